/**
 * From received bytes to the row the log store keeps: decoding, the session
 * tag, defects and the raw copy. Pure; the same code runs on the main thread
 * (tests, an in-memory store) and in the ingest worker (ingest-worker.ts).
 */
import { Buffer } from 'node:buffer';
import { decodeSyslog } from '../protocols/syslog/decode.js';
import type { SyslogMessage } from '../protocols/syslog/message.js';
import { plainAddress } from './attribution.js';
import { sessionOf } from './session-tag.js';
import type { NewSyslogMessage } from './syslog-message-row.js';

/** One received message (a datagram or a TCP frame) waiting to be stored; `bytes` is the service's own copy. */
export interface ReceivedLine {
  receivedAt: string;
  sourceIp: string;
  bytes: Uint8Array;
  truncated: boolean;
}

/** The decoded message of a received line. */
export const decodeLine = (l: ReceivedLine): SyslogMessage => decodeSyslog(l.bytes, { truncated: l.truncated });

/** The row of a received line, attributed to `hostId` (null: unknown sender). */
export function rowOf(l: ReceivedLine, msg: SyslogMessage, hostId: string | null): NewSyslogMessage {
  const defects = [...new Set(msg.defects.map((d) => d.code))];
  return {
    hostId,
    receivedAt: l.receivedAt,
    sourceIp: plainAddress(l.sourceIp),
    facility: msg.facility,
    severity: msg.severity,
    hostname: msg.hostname ?? null,
    app: msg.appName ?? null,
    procId: msg.procId ?? null,
    msgId: msg.msgId ?? null,
    // PostgreSQL text cannot hold NUL; the raw bytes (base64) keep it when there is a defect.
    text: msg.text.replace(/\0/g, '\uFFFD'),
    sessionId: sessionOf(msg),
    defects,
    raw: defects.length ? Buffer.from(msg.raw).toString('base64') : null,
  };
}

/**
 * The one entry point of the syslog codec: `decodeSyslog(bytes)` reads one
 * message (a UDP datagram or one RFC 6587 frame), RFC 5424 or RFC 3164,
 * telling them apart by what follows PRI (RFC 5424 §6.2.2: VERSION "1" and SP).
 *
 * It never throws and never drops a line: Kiln is a collector, and an
 * operator debugging a boot needs the garbled line too. Fields it cannot read
 * are undefined and listed in `defects`; `raw` keeps the bytes as received.
 */
import { ascii } from './bytes.js';
import { DEFAULT_PRIVAL, MAX_PRIVAL, SYSLOG_MAX_MESSAGE_OCTETS } from './codes.js';
import type { SyslogDefect } from './decode-error.js';
import type { SyslogMessage } from './message.js';
import { parseRfc3164Fields } from './rfc3164.js';
import { decodeMsg, parseRfc5424Fields } from './rfc5424.js';

/** Options of decodeSyslog. */
export interface DecodeSyslogOptions {
  /** The framer already cut this message (an over-long TCP frame): record `too_long`. */
  truncated?: boolean;
}

/** PRI at the start: `<` 1*3DIGIT `>` with PRIVAL 0..191 (RFC 5424 §6.2.1). Gives PRIVAL and the next byte. */
function readPri(bytes: Uint8Array, end: number): { prival: number; next: number } | undefined {
  if (bytes[0] !== 0x3c) return undefined;
  let i = 1;
  while (i < end && i <= 4 && bytes[i] >= 0x30 && bytes[i] <= 0x39) i++;
  if (i === 1 || i > 4 || bytes[i] !== 0x3e) return undefined;
  const prival = Number(ascii(bytes, 1, i));
  return prival <= MAX_PRIVAL ? { prival, next: i + 1 } : undefined;
}

/**
 * Where the message ends without its trailer: LF, CR LF or NUL. RFC 6587 §3.4.2 framing leaves
 * them on a frame, and busybox and rsyslog also end UDP datagrams with LF; none is content.
 */
function contentEnd(bytes: Uint8Array): number {
  let end = bytes.length;
  while (end > 0 && (bytes[end - 1] === 0x0a || bytes[end - 1] === 0x0d || bytes[end - 1] === 0)) end--;
  return end;
}

/** Decodes one syslog message; never throws (see the file comment). `bytes` is not kept beyond `raw`'s copy. */
export function decodeSyslog(bytes: Uint8Array, opts: DecodeSyslogOptions = {}): SyslogMessage {
  const defects: SyslogDefect[] = [];
  // RFC 5424 §6.1: a receiver that truncates MUST cut at the end of the message.
  const raw = bytes.slice(0, SYSLOG_MAX_MESSAGE_OCTETS);
  if (opts.truncated || bytes.length > SYSLOG_MAX_MESSAGE_OCTETS) {
    defects.push({ code: 'too_long', offset: raw.length, field: 'SYSLOG-MSG' });
  }
  const end = contentEnd(raw);
  const pri = readPri(raw, end);
  if (!pri) {
    // RFC 3164 §4.3.3: no valid PRI means the whole line is CONTENT, at priority 13.
    defects.push({ code: 'no_pri', offset: 0, field: 'PRI' });
    const msg = decodeMsg(raw, 0, end, defects);
    return { format: 'rfc3164', ...priFields(DEFAULT_PRIVAL), structuredData: [], ...msg, raw, defects };
  }
  if (raw[pri.next] === 0x31 && raw[pri.next + 1] === 0x20) {
    const fields = parseRfc5424Fields(raw, pri.next + 2, end, defects);
    return { format: 'rfc5424', ...priFields(pri.prival), ...fields, raw, defects };
  }
  const fields = parseRfc3164Fields(raw, pri.next, end, defects);
  return { format: 'rfc3164', ...priFields(pri.prival), structuredData: [], ...fields, raw, defects };
}

function priFields(prival: number): { facility: number; severity: number } {
  return { facility: prival >> 3, severity: prival & 7 };
}

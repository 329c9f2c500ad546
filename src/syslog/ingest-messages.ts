/**
 * The messages between the syslog service (main thread) and the ingest
 * worker, one batch at a time: batch → attribute → owners → written (or
 * failed). A batch's bytes travel as one transferred buffer.
 */
import type { NewSyslogMessage } from './syslog-message-row.js';

/** Main thread → worker. */
export type IngestRequest =
  | {
      type: 'batch';
      /** Every line's bytes, one after another; line i ends at `ends[i]`. */
      bytes: Uint8Array;
      ends: Uint32Array;
      sourceIps: string[];
      receivedAt: string[];
      /** 1: the line was cut at maxMessageBytes. */
      truncated: Uint8Array;
    }
  | { type: 'owners'; hostIds: Array<string | null> }
  | { type: 'close' };

/** Worker → main thread. */
export type IngestReply =
  | { type: 'attribute'; hostnames: Array<string | null> }
  | { type: 'written'; defective: number; rows: NewSyslogMessage[] }
  | { type: 'failed'; message: string }
  | { type: 'closed' };

/**
 * The value the syslog codec returns for one message, whichever format it
 * came in. Every field a sender may leave out or garble is optional; what the
 * codec could not read is listed in `defects`, and `raw` always holds the
 * bytes as received (cut at SYSLOG_MAX_MESSAGE_OCTETS).
 */
import type { SyslogDefect } from './decode-error.js';

/** One SD-PARAM (RFC 5424 §6.3.3): `value` is unescaped (`\"`, `\\`, `\]` → `"`, `\`, `]`). */
export interface SdParam {
  name: string;
  value: string;
}

/** One SD-ELEMENT (RFC 5424 §6.3.1): an SD-ID and its parameters in wire order (names may repeat, §6.3.3). */
export interface SdElement {
  id: string;
  params: SdParam[];
}

/**
 * A timestamp as sent. `rfc3339`: RFC 5424 §6.2.3 (also accepted in 3164-style lines, as rsyslog's
 * RSYSLOG_ForwardFormat sends); `epochMs` is UTC milliseconds (sub-millisecond digits stay in `text`).
 * `bsd`: RFC 3164 §4.1.2 `Mmm dd hh:mm:ss`, sender's local time with no year and no zone: the
 * receiver must place it in time itself (month is 1..12).
 */
export type SyslogTimestamp =
  | { kind: 'rfc3339'; text: string; epochMs: number; offsetMinutes: number }
  | { kind: 'bsd'; text: string; month: number; day: number; hour: number; minute: number; second: number };

/** Which grammar the message followed: `rfc3164` covers every line that is not RFC 5424 (BSD, busybox, free text). */
export type SyslogFormat = 'rfc5424' | 'rfc3164';

/**
 * A decoded syslog message. `hostname`, `appName`, `procId`, `msgId` and
 * `timestamp` are undefined when NILVALUE, absent (busybox's no-hostname
 * form) or unreadable (then a defect says so). `appName`/`procId` hold the
 * RFC 3164 TAG and its `[pid]`. `text` is MSG/CONTENT as UTF-8 without BOM
 * or trailing LF, or, when the header could not be read, the unread rest of
 * the line; it may hold control characters (sanitize before display).
 */
export interface SyslogMessage {
  format: SyslogFormat;
  /** 0..23 (RFC 5424 §6.2.1); 1 (user) when the line had no PRI. */
  facility: number;
  /** 0..7; 5 (notice) when the line had no PRI. */
  severity: number;
  timestamp?: SyslogTimestamp;
  hostname?: string;
  appName?: string;
  procId?: string;
  msgId?: string;
  /** RFC 5424 STRUCTURED-DATA in wire order; empty for NILVALUE and for RFC 3164. */
  structuredData: SdElement[];
  /** RFC 5424 §6.4: MSG began with the UTF-8 BOM (so the sender declared it UTF-8). */
  bom: boolean;
  text: string;
  raw: Uint8Array;
  defects: SyslogDefect[];
}

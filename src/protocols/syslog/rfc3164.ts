/**
 * RFC 3164 (BSD syslog) after PRI, and the forms real senders use instead:
 *
 *   <PRI>Mmm dd hh:mm:ss HOSTNAME TAG[PID]: CONTENT    RFC 3164 §4.1 (util-linux logger --rfc3164)
 *   <PRI>Mmm dd hh:mm:ss TAG: CONTENT                  no HOSTNAME (busybox syslogd -R, some kernels)
 *   <PRI>Mmm dd hh:mm:ss HOSTNAME TAG CONTENT          TAG without ':' (rsyslog forwarding an RFC 5424 message)
 *   <PRI>2026-12-06T04:52:35Z HOSTNAME TAG: CONTENT    RFC 3339 time (rsyslog's RSYSLOG_ForwardFormat)
 *
 * We are a collector, not a relay, but follow RFC 3164 §4.3 in spirit: a line
 * whose header cannot be read is kept whole as text, with a defect naming the
 * field we could not parse.
 */
import { ascii, indexOfSpace, isPrintUsAscii, SP } from './bytes.js';
import { MaxFieldLength } from './codes.js';
import type { SyslogDefect } from './decode-error.js';
import type { SyslogMessage, SyslogTimestamp } from './message.js';
import { decodeMsg } from './rfc5424.js';
import { parseBsdTimestamp, parseRfc3339 } from './timestamp.js';

/** The RFC 3164 fields after PRI. */
export type Rfc3164Fields = Pick<SyslogMessage, 'timestamp' | 'hostname' | 'appName' | 'procId' | 'bom' | 'text'>;

const COLON = 0x3a;
const OPEN = 0x5b;
const CLOSE = 0x5d;

/** TIMESTAMP at `pos` followed by SP or the end: BSD first, then an RFC 3339 token. */
function readTimestamp(bytes: Uint8Array, pos: number, end: number): { ts: SyslogTimestamp; next: number } | undefined {
  const bsd = parseBsdTimestamp(ascii(bytes, pos, Math.min(end, pos + 15)));
  if (bsd && (pos + bsd.length === end || bytes[pos + bsd.length] === SP))
    return { ts: bsd.timestamp, next: pos + bsd.length };
  const tokenEnd = indexOfSpace(bytes, pos, end);
  const iso = tokenEnd - pos <= 32 ? parseRfc3339(ascii(bytes, pos, tokenEnd)) : undefined;
  return iso ? { ts: iso, next: tokenEnd } : undefined;
}

/**
 * Whether the token [pos, tokenEnd) is a HOSTNAME rather than the TAG of the no-hostname form:
 * a TAG ends with ':' or holds '[' (`sshd[12]:`); a HOSTNAME is followed by more text. RFC 3164
 * §4.1.2 requires HOSTNAME; busybox omits it, so this guess is the deviation's workaround.
 */
function isHostname(bytes: Uint8Array, pos: number, tokenEnd: number, end: number): boolean {
  if (tokenEnd >= end || tokenEnd - pos > MaxFieldLength.hostname || !isPrintUsAscii(bytes, pos, tokenEnd))
    return false;
  if (bytes[tokenEnd - 1] === COLON) return false;
  for (let i = pos; i < tokenEnd; i++) if (bytes[i] === OPEN) return false;
  return true;
}

/**
 * TAG[PID] at `pos` (RFC 3164 §4.1.3: TAG is up to 32 alphanumerics ended by a non-alphanumeric,
 * usually '[' or ':'). We accept up to 48 PRINTUSASCII (RFC 5424 APP-NAME) ended by ':', '[' or SP;
 * a TAG ended by the end of the line is text, not a TAG. With `needColon` (no header before it) only
 * `TAG:` or `TAG[PID]:` counts. Gives the fields and where CONTENT starts.
 */
function readTag(
  bytes: Uint8Array,
  pos: number,
  end: number,
  needColon: boolean,
): { appName: string; procId?: string; content: number } | undefined {
  let i = pos;
  while (i < end && bytes[i] > 32 && bytes[i] < 127 && bytes[i] !== COLON && bytes[i] !== OPEN) i++;
  if (i === pos || i - pos > MaxFieldLength.appName || i >= end) return undefined;
  const appName = ascii(bytes, pos, i);
  let procId: string | undefined;
  if (bytes[i] === OPEN) {
    const close = bytes.indexOf(CLOSE, i + 1);
    if (close < 0 || close >= end || close - i - 1 > MaxFieldLength.procId || !isPrintUsAscii(bytes, i + 1, close)) {
      return undefined;
    }
    procId = ascii(bytes, i + 1, close);
    i = close + 1;
  }
  if (bytes[i] === COLON) i++;
  else if (needColon) return undefined;
  if (i < end && bytes[i] === SP) i++; // one SP separates TAG from CONTENT; more belong to CONTENT
  return { appName, procId, content: i };
}

/** Parses TIMESTAMP..CONTENT from `pos`, the byte after PRI; `end` excludes any trailer. */
export function parseRfc3164Fields(
  bytes: Uint8Array,
  pos: number,
  end: number,
  defects: SyslogDefect[],
): Rfc3164Fields {
  const out: Rfc3164Fields = { bom: false, text: '' };
  let i = pos;
  const ts = readTimestamp(bytes, pos, end);
  if (ts) {
    out.timestamp = ts.ts;
    i = Math.min(ts.next + 1, end);
    const tokenEnd = indexOfSpace(bytes, i, end);
    if (isHostname(bytes, i, tokenEnd, end)) {
      out.hostname = ascii(bytes, i, tokenEnd);
      i = tokenEnd + 1;
    }
  } else {
    // RFC 3164 §4.3.2: without a valid TIMESTAMP, what follows PRI is the message; we still read a
    // `TAG:` from it (a sender with no clock), but not a bare word, which is more likely garbled header.
    defects.push({ code: 'bad_timestamp', offset: pos, field: 'TIMESTAMP' });
  }
  const tag = readTag(bytes, i, end, !ts);
  if (tag) {
    out.appName = tag.appName;
    if (tag.procId !== undefined) out.procId = tag.procId;
    i = tag.content;
  }
  return { ...out, ...decodeMsg(bytes, i, end, defects) };
}

/**
 * RFC 5424 (the syslog protocol) after PRI and VERSION: parse and encode.
 *
 *   SYSLOG-MSG = HEADER SP STRUCTURED-DATA [SP MSG]                       (§6)
 *   HEADER     = PRI VERSION SP TIMESTAMP SP HOSTNAME SP APP-NAME SP PROCID SP MSGID
 *   e.g. <133>1 2026-12-06T04:52:26.209355+00:00 host app 4242 BOOT [id k="v"] text
 *
 * Parsing is best effort: a field that breaks its rule is left undefined and
 * recorded as a defect, and the parser moves on to the next SP-delimited field.
 */
import { ascii, decodeUtf8, indexOfSpace, isPrintUsAscii, SP, startsWithBom } from './bytes.js';
import { MaxFieldLength, NILVALUE } from './codes.js';
import type { SyslogDefect } from './decode-error.js';
import type { SdElement, SyslogMessage, SyslogTimestamp } from './message.js';
import { formatStructuredData, parseStructuredData } from './structured-data.js';
import { parseRfc3339 } from './timestamp.js';

/** The RFC 5424 fields after VERSION. */
export type Rfc5424Fields = Pick<
  SyslogMessage,
  'timestamp' | 'hostname' | 'appName' | 'procId' | 'msgId' | 'structuredData' | 'bom' | 'text'
>;

type HeaderField = 'hostname' | 'appName' | 'procId' | 'msgId';
const HEADER_FIELDS: [HeaderField, string][] = [
  ['hostname', 'HOSTNAME'],
  ['appName', 'APP-NAME'],
  ['procId', 'PROCID'],
  ['msgId', 'MSGID'],
];

/** Decodes MSG from `pos` (after its SP): BOM stripped (§6.4), UTF-8 decoded, `bad_utf8` when it is not. */
export function decodeMsg(
  bytes: Uint8Array,
  pos: number,
  end: number,
  defects: SyslogDefect[],
): { bom: boolean; text: string } {
  const bom = startsWithBom(bytes, pos, end);
  const start = bom ? pos + 3 : pos;
  const { text, ok } = decodeUtf8(bytes.subarray(start, end));
  if (!ok) defects.push({ code: 'bad_utf8', offset: start, field: 'MSG' });
  return { bom, text };
}

/** Parses TIMESTAMP..MSG from `pos`, the byte after `VERSION SP`; `end` excludes any trailer. */
export function parseRfc5424Fields(
  bytes: Uint8Array,
  pos: number,
  end: number,
  defects: SyslogDefect[],
): Rfc5424Fields {
  const out: Rfc5424Fields = { structuredData: [], bom: false, text: '' };
  let i = pos;
  const tsEnd = indexOfSpace(bytes, i, end);
  const tsText = ascii(bytes, i, tsEnd);
  if (tsText !== NILVALUE) {
    // RFC 5424 §6.2.3: NILVALUE when the sender has no clock; otherwise RFC 3339 with restrictions.
    const ts: SyslogTimestamp | undefined = parseRfc3339(tsText);
    if (ts) out.timestamp = ts;
    else defects.push({ code: 'bad_timestamp', offset: i, field: 'TIMESTAMP' });
  }
  i = tsEnd;
  for (const [key, name] of HEADER_FIELDS) {
    if (i >= end) return truncated(out, bytes, pos, end, defects, name);
    const fEnd = indexOfSpace(bytes, i + 1, end);
    // RFC 5424 §6: each header field is NILVALUE or 1*n PRINTUSASCII, n given in MaxFieldLength.
    if (fEnd - (i + 1) > MaxFieldLength[key] || !isPrintUsAscii(bytes, i + 1, fEnd)) {
      defects.push({ code: 'bad_header_field', offset: i + 1, field: name });
    } else {
      const value = ascii(bytes, i + 1, fEnd);
      if (value !== NILVALUE) out[key] = value;
    }
    i = fEnd;
  }
  if (i >= end) return truncated(out, bytes, pos, end, defects, 'STRUCTURED-DATA');
  return { ...out, ...parseSdAndMsg(bytes, i + 1, end, defects) };
}

/** The header ended before `field`: keep the fields read, and all of it as `text` so the line still reads whole. */
function truncated(
  out: Rfc5424Fields,
  bytes: Uint8Array,
  pos: number,
  end: number,
  defects: SyslogDefect[],
  field: string,
): Rfc5424Fields {
  defects.push({ code: 'truncated_header', offset: end, field });
  return { ...out, ...decodeMsg(bytes, pos, end, defects) };
}

/** STRUCTURED-DATA [SP MSG] from `pos`. Unparseable SD goes, with the rest, into `text`. */
function parseSdAndMsg(
  bytes: Uint8Array,
  pos: number,
  end: number,
  defects: SyslogDefect[],
): Pick<Rfc5424Fields, 'structuredData' | 'bom' | 'text'> {
  let structuredData: SdElement[] = [];
  let next: number;
  if (bytes[pos] === 0x2d /* NILVALUE */) next = pos + 1;
  else {
    const sd = parseStructuredData(bytes, pos, end);
    if (!sd.ok) {
      defects.push({ code: 'bad_structured_data', offset: sd.offset, field: 'STRUCTURED-DATA' });
      return { structuredData, ...decodeMsg(bytes, pos, end, defects) };
    }
    if (!sd.utf8Ok) defects.push({ code: 'bad_utf8', offset: pos, field: 'PARAM-VALUE' });
    structuredData = sd.elements;
    next = sd.next;
  }
  if (next >= end) return { structuredData, bom: false, text: '' };
  if (bytes[next] !== SP) {
    // SD must be followed by SP or the end (§6); keep what follows as text, from where SD stopped.
    defects.push({ code: 'bad_structured_data', offset: next, field: 'STRUCTURED-DATA' });
    return { structuredData, ...decodeMsg(bytes, next, end, defects) };
  }
  return { structuredData, ...decodeMsg(bytes, next + 1, end, defects) };
}

/** The fields encodeSyslog5424 writes; undefined header fields become NILVALUE. */
export type Rfc5424Input = Pick<SyslogMessage, 'facility' | 'severity'> & Partial<Rfc5424Fields>;

/**
 * Encodes an RFC 5424 message. The caller owns field validity (PRINTUSASCII,
 * lengths, SD-NAMEs); values are escaped (§6.3.3). MSG is omitted when empty;
 * `bom` prefixes the UTF-8 BOM (§6.4).
 */
export function encodeSyslog5424(m: Rfc5424Input): Uint8Array {
  const nil = (v: string | undefined) => v ?? NILVALUE;
  const head = [
    `<${m.facility * 8 + m.severity}>1`,
    nil(m.timestamp?.text),
    nil(m.hostname),
    nil(m.appName),
    nil(m.procId),
    nil(m.msgId),
    formatStructuredData(m.structuredData ?? []),
  ].join(' ');
  const text = m.text ?? '';
  const msg = text === '' && !m.bom ? '' : ` ${m.bom ? '\uFEFF' : ''}${text}`;
  return new TextEncoder().encode(head + msg);
}

/**
 * RFC 5424 §6.3 STRUCTURED-DATA: parse from bytes, format to text.
 *
 *   STRUCTURED-DATA = NILVALUE / 1*SD-ELEMENT
 *   SD-ELEMENT      = "[" SD-ID *(SP SD-PARAM) "]"
 *   SD-PARAM        = PARAM-NAME "=" %d34 PARAM-VALUE %d34
 *   SD-ID, PARAM-NAME = SD-NAME = 1*32PRINTUSASCII except '=', SP, ']', %d34
 */
import { ascii, decodeUtf8, SP } from './bytes.js';
import { MaxFieldLength } from './codes.js';
import type { SdElement, SdParam } from './message.js';

const QUOTE = 0x22;
const BACKSLASH = 0x5c;
const OPEN = 0x5b;
const CLOSE = 0x5d;
const EQUALS = 0x3d;

/** Result of parsing: the elements and the byte after the last `]`, or the offset where the syntax broke. */
export type SdParseResult =
  { ok: true; elements: SdElement[]; next: number; utf8Ok: boolean } | { ok: false; offset: number };

function isSdNameByte(b: number): boolean {
  return b >= 33 && b <= 126 && b !== EQUALS && b !== SP && b !== CLOSE && b !== QUOTE;
}

/** Reads an SD-NAME at `pos`; gives its end, or -1 when it is empty or longer than 32 (§6.3.2). */
function sdNameEnd(bytes: Uint8Array, pos: number, end: number): number {
  let i = pos;
  while (i < end && isSdNameByte(bytes[i])) i++;
  return i === pos || i - pos > MaxFieldLength.sdName ? -1 : i;
}

/** Reads a PARAM-VALUE after its opening quote; gives the unescaped bytes and the index of the closing quote. */
function paramValue(bytes: Uint8Array, pos: number, end: number): { value: Uint8Array; close: number } | undefined {
  const out: number[] = [];
  for (let i = pos; i < end; i++) {
    const b = bytes[i];
    if (b === QUOTE) return { value: Uint8Array.from(out), close: i };
    // RFC 5424 §6.3.3: '"', '\' and ']' MUST be escaped with '\'; a '\' before any other
    // character MUST be treated as a regular backslash. An unescaped ']' (a sender's bug) is
    // tolerated: the quotes still delimit the value.
    const next = bytes[i + 1];
    if (b === BACKSLASH && i + 1 < end && (next === QUOTE || next === BACKSLASH || next === CLOSE)) {
      out.push(next);
      i++;
    } else out.push(b);
  }
  return undefined;
}

/** Parses one or more SD-ELEMENTs starting at `pos` (which holds `[`). */
export function parseStructuredData(bytes: Uint8Array, pos: number, end: number): SdParseResult {
  const elements: SdElement[] = [];
  let utf8Ok = true;
  let i = pos;
  while (i < end && bytes[i] === OPEN) {
    const open = i;
    const idEnd = sdNameEnd(bytes, open + 1, end);
    if (idEnd < 0) return { ok: false, offset: open + 1 };
    const params: SdParam[] = [];
    i = idEnd;
    while (i < end && bytes[i] === SP) {
      const nameEnd = sdNameEnd(bytes, i + 1, end);
      if (nameEnd < 0) return { ok: false, offset: i + 1 };
      if (bytes[nameEnd] !== EQUALS || bytes[nameEnd + 1] !== QUOTE) return { ok: false, offset: nameEnd };
      const v = paramValue(bytes, nameEnd + 2, end);
      if (!v) return { ok: false, offset: nameEnd + 2 };
      const decoded = decodeUtf8(v.value);
      utf8Ok &&= decoded.ok;
      params.push({ name: ascii(bytes, i + 1, nameEnd), value: decoded.text });
      i = v.close + 1;
    }
    if (i >= end || bytes[i] !== CLOSE) return { ok: false, offset: i };
    elements.push({ id: ascii(bytes, open + 1, idEnd), params });
    i++;
  }
  return { ok: true, elements, next: i, utf8Ok };
}

/** Escapes a PARAM-VALUE (RFC 5424 §6.3.3: '"', '\' and ']' MUST be escaped). */
export function escapeParamValue(value: string): string {
  return value.replace(/["\\\]]/g, (c) => `\\${c}`);
}

/** Formats STRUCTURED-DATA as text: NILVALUE for no elements. Names are not checked here (the encoder does). */
export function formatStructuredData(elements: readonly SdElement[]): string {
  if (elements.length === 0) return '-';
  return elements
    .map((e) => `[${e.id}${e.params.map((p) => ` ${p.name}="${escapeParamValue(p.value)}"`).join('')}]`)
    .join('');
}

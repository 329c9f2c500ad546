/**
 * Small byte helpers shared by the syslog parsers: ASCII slices, PRINTUSASCII
 * tokens (RFC 5424 §6: %d33-126) and lossless-or-flagged UTF-8 decoding.
 * Pure; no Buffer.
 */

/** SP, the field separator of both syslog formats. */
export const SP = 0x20;
/** LF, the RFC 6587 §3.4.2 frame trailer. */
export const LF = 0x0a;

/** The bytes [start, end) as a string of one char per byte (the header fields are ASCII). */
export function ascii(bytes: Uint8Array, start: number, end: number): string {
  let s = '';
  for (let i = start; i < end; i++) s += String.fromCharCode(bytes[i]);
  return s;
}

/** Index of the first SP at or after `start`, or `end` when there is none. */
export function indexOfSpace(bytes: Uint8Array, start: number, end: number): number {
  for (let i = start; i < end; i++) if (bytes[i] === SP) return i;
  return end;
}

/** RFC 5424 §6 PRINTUSASCII: every byte is %d33-126 and there is at least one. */
export function isPrintUsAscii(bytes: Uint8Array, start: number, end: number): boolean {
  if (end <= start) return false;
  for (let i = start; i < end; i++) if (bytes[i] < 33 || bytes[i] > 126) return false;
  return true;
}

const strict = new TextDecoder('utf-8', { fatal: true, ignoreBOM: true });
const lossy = new TextDecoder('utf-8', { ignoreBOM: true });

/** Decodes UTF-8; invalid sequences become U+FFFD and `ok` is false (the caller records `bad_utf8`). */
export function decodeUtf8(bytes: Uint8Array): { text: string; ok: boolean } {
  try {
    return { text: strict.decode(bytes), ok: true };
  } catch {
    // Tolerated: a collector keeps the line; the raw bytes stay on the message.
    return { text: lossy.decode(bytes), ok: false };
  }
}

/** RFC 5424 §6.4: MSG-UTF8 starts with the BOM %xEF.BB.BF. */
export function startsWithBom(bytes: Uint8Array, pos: number, end: number): boolean {
  return end - pos >= 3 && bytes[pos] === 0xef && bytes[pos + 1] === 0xbb && bytes[pos + 2] === 0xbf;
}

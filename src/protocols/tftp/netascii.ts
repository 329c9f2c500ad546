/**
 * Netascii conversion for "netascii" mode reads (RFC 1350 §1 and RFC 764):
 * the sender turns each LF into CR LF and each bare CR into CR NUL. Pure.
 */

/** Converts local text bytes (LF line ends) to netascii; the result is a new array, at most twice as long. */
export function encodeNetascii(bytes: Uint8Array): Uint8Array {
  let extra = 0;
  for (let i = 0; i < bytes.length; i++) if (bytes[i] === 0x0a || bytes[i] === 0x0d) extra++;
  const out = new Uint8Array(bytes.length + extra);
  let o = 0;
  for (let i = 0; i < bytes.length; i++) {
    const b = bytes[i];
    if (b === 0x0a) {
      out[o++] = 0x0d;
      out[o++] = 0x0a;
    } // LF -> CR LF
    else if (b === 0x0d) {
      out[o++] = 0x0d;
      out[o++] = 0x00;
    } // CR -> CR NUL
    else out[o++] = b;
  }
  return out;
}

/** Converts netascii back to local bytes (CR LF -> LF, CR NUL -> CR); a CR followed by anything else is kept. */
export function decodeNetascii(bytes: Uint8Array): Uint8Array {
  const out = new Uint8Array(bytes.length);
  let o = 0;
  for (let i = 0; i < bytes.length; i++) {
    const b = bytes[i];
    if (b === 0x0d && bytes[i + 1] === 0x0a) {
      out[o++] = 0x0a;
      i++;
    } else if (b === 0x0d && bytes[i + 1] === 0x00) {
      out[o++] = 0x0d;
      i++;
    } else out[o++] = b;
  }
  return out.slice(0, o);
}

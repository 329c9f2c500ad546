/**
 * The object pack: many objects in one HTTP response, because a Debian root
 * holds 20–30 thousand files and one request per file is slow. The body is
 * an 8-byte magic, then one frame per requested id, in request order:
 *
 *    0        8                                  40         48
 *   +--------+  
 *   |KLNPACK1|  magic, once  
 *   +--------+----------------------------------+----------+------------------+
 *            | id: 32 bytes, the raw SHA-256    | size: u64 | size bytes of the |
 *            |                                  | big-endian| object            |
 *            +----------------------------------+----------+------------------+
 *
 * The reader checks each object against its id. Pure.
 */

/** First bytes of every pack. */
export const PACK_MAGIC = new TextEncoder().encode('KLNPACK1');

/** Bytes of a frame header (id and size). */
export const PACK_FRAME_HEADER = 40;

/** The header of one frame: the id's 32 raw bytes, then the size as an unsigned 64-bit big-endian integer. */
export function encodePackFrameHeader(id: string, size: number): Uint8Array {
  const out = new Uint8Array(PACK_FRAME_HEADER);
  for (let i = 0; i < 32; i++) out[i] = parseInt(id.slice(i * 2, i * 2 + 2), 16);
  new DataView(out.buffer).setBigUint64(32, BigInt(size));
  return out;
}

/** Splits a whole pack into its objects (id → bytes), in order; throws on a bad magic or a truncated frame. */
export function decodePack(bytes: Uint8Array): { id: string; bytes: Uint8Array }[] {
  if (bytes.length < PACK_MAGIC.length || PACK_MAGIC.some((b, i) => bytes[i] !== b)) throw new Error('pack: bad magic');
  const out: { id: string; bytes: Uint8Array }[] = [];
  let at = PACK_MAGIC.length;
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  while (at < bytes.length) {
    if (at + PACK_FRAME_HEADER > bytes.length) throw new Error(`pack: frame header truncated at ${at}`);
    const id = [...bytes.subarray(at, at + 32)].map((b) => b.toString(16).padStart(2, '0')).join('');
    const size = Number(view.getBigUint64(at + 32));
    at += PACK_FRAME_HEADER;
    if (at + size > bytes.length) throw new Error(`pack: object ${id} truncated`);
    out.push({ id, bytes: bytes.subarray(at, at + size) });
    at += size;
  }
  return out;
}

/**
 * Pure decoding of tar headers: the 512-byte ustar/GNU header block and pax
 * extended-header records (POSIX.1-2001, pax(1) "pax Extended Header"). Bytes
 * in, typed values out; no I/O.
 *
 * Kiln decodes tar itself rather than with `tar-stream` because that library
 * decodes every pax value as UTF-8 text, which corrupts the binary xattr
 * values GNU tar stores raw in `SCHILY.xattr.*` records (e.g.
 * `security.capability` on ping).
 *
 * Header block (POSIX.1-1988 ustar; GNU tar writes `ustar  \0` as magic and
 * uses the prefix area for its own fields, so the prefix is read only under
 * the POSIX magic):
 *
 *   offset size field          offset size field
 *        0  100 name              257    6 magic ("ustar\0" | "ustar ")
 *      100    8 mode (octal)      263    2 version
 *      108    8 uid               265   32 uname
 *      116    8 gid               297   32 gname
 *      124   12 size              329    8 devmajor
 *      136   12 mtime             337    8 devminor
 *      148    8 chksum            345  155 prefix (ustar only)
 *      156    1 typeflag
 *      157  100 linkname
 */
import { KilnError } from '../../error/kiln-error.js';

/** Size of every tar block, in bytes. */
export const TAR_BLOCK = 512;

/** One header block as written, before pax or GNU long-name records are applied. */
export interface TarHeader {
  name: string;
  mode: number;
  uid: number;
  gid: number;
  /** Body size in bytes (the body follows, padded to a block). */
  size: number;
  /** Seconds since the epoch. */
  mtime: number;
  /** The one-character typeflag; `\0` is an old-style regular file. */
  type: string;
  linkname: string;
  devmajor: number;
  devminor: number;
}

const utf8 = new TextDecoder('utf-8', { fatal: true });
const latin1 = new TextDecoder('latin1');

function tarError(message: string): KilnError {
  return new KilnError('validation_failed', `tar: ${message}`);
}

/** A NUL-terminated text field. Names must be UTF-8: a root is written back by name, and a lossy name is a different file. */
function text(block: Uint8Array, offset: number, size: number, field: string): string {
  const end = block.subarray(offset, offset + size).indexOf(0);
  const bytes = block.subarray(offset, end === -1 ? offset + size : offset + end);
  try {
    return utf8.decode(bytes);
  } catch {
    throw tarError(`${field} is not UTF-8: ${JSON.stringify(latin1.decode(bytes))}`);
  }
}

/** A numeric field: octal text (NUL- or space-terminated), or GNU base-256 when the top bit of the first byte is set. */
function numeric(block: Uint8Array, offset: number, size: number, field: string): number {
  const first = block[offset];
  if (first & 0x80) {
    if (first & 0x40) throw tarError(`negative ${field}`);
    let n = first & 0x3f;
    for (let i = 1; i < size; i++) n = n * 256 + block[offset + i];
    if (!Number.isSafeInteger(n)) throw tarError(`${field} too large`);
    return n;
  }
  const s = latin1
    .decode(block.subarray(offset, offset + size))
    .replace(/[\0 ]+$/, '')
    .trim();
  if (s === '') return 0;
  if (!/^[0-7]+$/.test(s)) throw tarError(`${field} is not octal: ${JSON.stringify(s)}`);
  return parseInt(s, 8);
}

/** True when every byte of the block is zero (the end-of-archive marker is two of them). */
export function isZeroBlock(block: Uint8Array): boolean {
  for (const b of block) if (b !== 0) return false;
  return true;
}

/** Decodes one header block; throws a `validation_failed` KilnError on a bad checksum or field. */
export function decodeTarHeader(block: Uint8Array): TarHeader {
  if (block.length !== TAR_BLOCK) throw tarError(`header of ${block.length} bytes`);
  // Checksum: the byte sum of the header with the chksum field read as eight spaces.
  let sum = 0;
  for (let i = 0; i < TAR_BLOCK; i++) sum += i >= 148 && i < 156 ? 0x20 : block[i];
  const stored = numeric(block, 148, 8, 'chksum');
  if (stored !== sum) throw tarError(`header checksum ${stored} is not ${sum} (not a tar, or corrupt)`);
  const magic = latin1.decode(block.subarray(257, 263));
  let name = text(block, 0, 100, 'name');
  if (magic === 'ustar\0') {
    const prefix = text(block, 345, 155, 'prefix');
    if (prefix) name = `${prefix}/${name}`;
  }
  return {
    name,
    mode: numeric(block, 100, 8, 'mode') & 0o7777,
    uid: numeric(block, 108, 8, 'uid'),
    gid: numeric(block, 116, 8, 'gid'),
    size: numeric(block, 124, 12, 'size'),
    mtime: numeric(block, 136, 12, 'mtime'),
    type: String.fromCharCode(block[156]),
    linkname: text(block, 157, 100, 'linkname'),
    devmajor: numeric(block, 329, 8, 'devmajor'),
    devminor: numeric(block, 337, 8, 'devminor'),
  };
}

/**
 * Decodes pax records `"<len> <key>=<value>\n"` (len counts the whole record
 * in bytes). Values stay bytes: xattr values are binary, the rest UTF-8.
 */
export function decodePaxRecords(body: Uint8Array): Map<string, Uint8Array> {
  const out = new Map<string, Uint8Array>();
  let at = 0;
  while (at < body.length) {
    if (body[at] === 0) break; // NUL padding after the last record
    const space = body.indexOf(0x20, at);
    if (space === -1) throw tarError('pax record without a length');
    const len = Number(latin1.decode(body.subarray(at, space)));
    if (!Number.isSafeInteger(len) || len <= space - at + 1 || at + len > body.length)
      throw tarError(`pax record length ${latin1.decode(body.subarray(at, space))} out of bounds`);
    const record = body.subarray(space + 1, at + len);
    if (record[record.length - 1] !== 0x0a) throw tarError('pax record not ended by a newline');
    const eq = record.indexOf(0x3d);
    if (eq <= 0) throw tarError('pax record without a key');
    out.set(text(record, 0, eq, 'pax key'), record.slice(eq + 1, record.length - 1));
    at += len;
  }
  return out;
}

/** A pax value as UTF-8 text. */
export function paxText(value: Uint8Array, key: string): string {
  return text(value, 0, value.length, `pax ${key}`);
}

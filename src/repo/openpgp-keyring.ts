/**
 * The members' repo public keys as OpenPGP packets (RFC 4880): a keyring is
 * transferable public keys one after the other (§11.1), which is what gpgv,
 * apt's `signed-by` and debian-installer's `archive.gpg` read. Parsing checks
 * that a key sent to the store holds no secret key material and gives each
 * key's v4 fingerprint; armoring writes the ASCII form served as
 * `/repo/kiln-repo.asc`. Pure.
 */
import { createHash } from 'node:crypto';
import { KilnError } from '../error/kiln-error.js';

/** One transferable public key: its primary key's fingerprint and its packets as they came. */
export interface PublicKey {
  /** v4 fingerprint, 40 upper-case hex digits (as gpg prints it). */
  fingerprint: string;
  bytes: Uint8Array;
}

// RFC 4880 §4.3 packet tags a transferable public key may hold (§11.1): public key and subkey, user id and
// attribute, signature, trust, marker. Secret key (5) and secret subkey (7) packets, or anything else, are refused.
const PUBLIC_KEY = 6;
const ALLOWED = new Set([PUBLIC_KEY, 14, 13, 17, 2, 12, 10]);

const bad = (why: string) => new KilnError('validation_failed', `repo public key: ${why}`);

/** One packet's tag and body bounds, from the header at `off` (RFC 4880 §4.2); throws on a malformed one. */
function packetAt(b: Uint8Array, off: number): { tag: number; start: number; end: number } {
  const h = b[off];
  if (h === undefined || (h & 0x80) === 0) throw bad(`no packet header at byte ${off}`);
  let tag: number;
  let len: number;
  let start: number;
  if (h & 0x40) {
    // New format (§4.2.2): one-, two- or five-octet length; partial lengths are not used by keys.
    tag = h & 0x3f;
    const o1 = b[off + 1] ?? 0;
    if (o1 < 192) [len, start] = [o1, off + 2];
    else if (o1 < 224) [len, start] = [((o1 - 192) << 8) + (b[off + 2] ?? 0) + 192, off + 3];
    else if (o1 === 255) [len, start] = [readU32(b, off + 2), off + 6];
    else throw bad(`partial body length at byte ${off}`);
  } else {
    // Old format (§4.2.1): length type 0, 1, 2 = 1, 2, 4 octets; 3 (indeterminate) is refused.
    tag = (h >> 2) & 0x0f;
    const type = h & 3;
    if (type === 3) throw bad(`indeterminate length at byte ${off}`);
    const n = [1, 2, 4][type];
    len = 0;
    for (let i = 0; i < n; i++) len = len * 256 + (b[off + 1 + i] ?? 0);
    start = off + 1 + n;
  }
  if (start + len > b.length) throw bad(`packet at byte ${off} runs past the end`);
  return { tag, start, end: start + len };
}

const readU32 = (b: Uint8Array, off: number) =>
  (b[off] ?? 0) * 0x1000000 + ((b[off + 1] ?? 0) << 16) + ((b[off + 2] ?? 0) << 8) + (b[off + 3] ?? 0);

/** RFC 4880 §12.2: a v4 fingerprint is SHA-1 over 0x99, the body's two-octet length, and the public key body. */
function fingerprintOf(body: Uint8Array): string {
  if (body[0] !== 4) throw bad(`version ${body[0]} key; only version 4 keys are read`);
  const head = new Uint8Array([0x99, body.length >> 8, body.length & 0xff]);
  return createHash('sha1').update(head).update(body).digest('hex').toUpperCase();
}

/**
 * The public keys in a binary keyring, in order. Throws `validation_failed` for malformed packets, a keyring that
 * does not start with a public key, or any secret key material.
 */
export function parsePublicKeys(bytes: Uint8Array): PublicKey[] {
  const keys: PublicKey[] = [];
  let first = -1;
  let fpr = '';
  for (let off = 0; off < bytes.length;) {
    const p = packetAt(bytes, off);
    if (!ALLOWED.has(p.tag))
      throw bad(p.tag === 5 || p.tag === 7 ? 'it holds secret key material' : `packet tag ${p.tag} at byte ${off}`);
    if (p.tag === PUBLIC_KEY) {
      if (first >= 0) keys.push({ fingerprint: fpr, bytes: bytes.slice(first, off) });
      first = off;
      fpr = fingerprintOf(bytes.subarray(p.start, p.end));
    } else if (first < 0) throw bad('it does not start with a public key packet');
    off = p.end;
  }
  if (first >= 0) keys.push({ fingerprint: fpr, bytes: bytes.slice(first) });
  if (keys.length === 0) throw bad('empty');
  return keys;
}

/** RFC 4880 §6.1: the armor checksum, CRC-24 with generator 0x1864CFB from 0xB704CE. */
function crc24(b: Uint8Array): number {
  let crc = 0xb704ce;
  for (const x of b) {
    crc ^= x << 16;
    for (let i = 0; i < 8; i++) {
      crc <<= 1;
      if (crc & 0x1000000) crc ^= 0x1864cfb;
    }
  }
  return crc & 0xffffff;
}

/** The keyring in ASCII armor (RFC 4880 §6.2): one PUBLIC KEY BLOCK, 64 characters a line, and its checksum. */
export function armorPublicKeys(bytes: Uint8Array): string {
  const b64 = Buffer.from(bytes).toString('base64');
  const lines = b64.match(/.{1,64}/g) ?? [];
  const c = crc24(bytes);
  const sum = Buffer.from([c >> 16, (c >> 8) & 0xff, c & 0xff]).toString('base64');
  return [
    '-----BEGIN PGP PUBLIC KEY BLOCK-----',
    '',
    ...lines,
    `=${sum}`,
    '-----END PGP PUBLIC KEY BLOCK-----',
    '',
  ].join('\n');
}

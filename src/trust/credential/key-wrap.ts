// Wrapping the data key to a joining controller (docs/cluster.md, "Joining"):
// the joiner makes an X25519 key pair and sends only its public key; the
// member that admits it seals the data key to that key (ECIES: an ephemeral
// X25519 key of its own, HKDF-SHA256 over the shared secret, AES-256-GCM).
// Only the joiner's private key, which never leaves its process, opens it.
//
//   { v: 1, epk, iv, tag, ct }    each value base64url; epk and the joiner's key are raw 32-byte X25519
import {
  createCipheriv,
  createDecipheriv,
  createPublicKey,
  diffieHellman,
  generateKeyPairSync,
  hkdfSync,
  randomBytes,
  type KeyObject,
} from 'node:crypto';
import { KilnError } from '../../error/kiln-error.js';

/** A wrapped data key as it travels in the join reply. */
export interface WrappedKey {
  v: 1;
  /** The wrapping member's ephemeral X25519 public key (raw, base64url). */
  epk: string;
  iv: string;
  tag: string;
  ct: string;
}

/** A joiner's one-time key pair: `publicKey` (raw X25519, base64url) is sent; `privateKey` stays in the process. */
export interface WrapKeyPair {
  publicKey: string;
  privateKey: KeyObject;
}

const b64u = (b: Uint8Array) => Buffer.from(b).toString('base64url');
const rawX25519 = /^[A-Za-z0-9_-]{43}$/;

/** A fresh X25519 key pair for one join. */
export function createWrapKeyPair(): WrapKeyPair {
  const { publicKey, privateKey } = generateKeyPairSync('x25519');
  return { publicKey: publicKey.export({ format: 'jwk' }).x!, privateKey };
}

function publicKeyOf(raw: string, field: string): KeyObject {
  if (!rawX25519.test(raw))
    throw new KilnError('validation_failed', `${field} must be a raw X25519 public key (32 bytes, base64url)`, {
      issues: [{ path: field, code: 'invalid_key', message: 'not a raw X25519 public key' }],
    });
  return createPublicKey({ key: { kty: 'OKP', crv: 'X25519', x: raw }, format: 'jwk' });
}

/** X25519 between two keys; OpenSSL refuses some low-order points itself, `kek` the rest. */
function ecdh(privateKey: KeyObject, publicKey: KeyObject): Buffer {
  try {
    return diffieHellman({ privateKey, publicKey });
  } catch (err) {
    throw new KilnError('validation_failed', 'the X25519 public key is of low order', { cause: err });
  }
}

/** The AES key both sides derive: HKDF-SHA256(shared, salt = epk ‖ recipient, info = label ‖ context). */
function kek(shared: Buffer, epk: string, recipient: string, context: string): Buffer {
  // RFC 7748 §6.1: a low-order peer key gives an all-zero secret; refuse it.
  if (shared.every((b) => b === 0)) throw new KilnError('validation_failed', 'the X25519 public key is of low order');
  const salt = Buffer.concat([Buffer.from(epk, 'base64url'), Buffer.from(recipient, 'base64url')]);
  return Buffer.from(hkdfSync('sha256', shared, salt, `kiln data key wrap v1\n${context}`, 32));
}

/**
 * Seals `key` to `recipientPublicKey` (a joiner's raw X25519 key, base64url).
 * `context` (the join token's id) is bound into the key derivation and as
 * additional data, so a wrapped key does not open under another join.
 */
export function wrapKey(key: Uint8Array, recipientPublicKey: string, context: string): WrappedKey {
  const recipient = publicKeyOf(recipientPublicKey, 'wrapPublicKey');
  const eph = generateKeyPairSync('x25519');
  const epk = eph.publicKey.export({ format: 'jwk' }).x!;
  const aes = kek(ecdh(eph.privateKey, recipient), epk, recipientPublicKey, context);
  const iv = randomBytes(12);
  const cipher = createCipheriv('aes-256-gcm', aes, iv);
  cipher.setAAD(Buffer.from(context, 'utf8'));
  const ct = Buffer.concat([cipher.update(key), cipher.final()]);
  return { v: 1, epk, iv: b64u(iv), tag: b64u(cipher.getAuthTag()), ct: b64u(ct) };
}

/** Opens a key made by `wrapKey` with the joiner's key pair and the same context. Throws validation_failed when it does not open. */
export function unwrapKey(w: WrappedKey, pair: WrapKeyPair, context: string): Uint8Array {
  if (w.v !== 1 || !/^[A-Za-z0-9_-]{16}$/.test(w.iv) || !/^[A-Za-z0-9_-]{22}$/.test(w.tag))
    throw new KilnError('validation_failed', 'the wrapped key is not in the v1 format');
  const peer = publicKeyOf(w.epk, 'epk');
  const aes = kek(ecdh(pair.privateKey, peer), w.epk, pair.publicKey, context);
  try {
    const d = createDecipheriv('aes-256-gcm', aes, Buffer.from(w.iv, 'base64url'));
    d.setAAD(Buffer.from(context, 'utf8'));
    d.setAuthTag(Buffer.from(w.tag, 'base64url'));
    return new Uint8Array(Buffer.concat([d.update(Buffer.from(w.ct, 'base64url')), d.final()]));
  } catch (err) {
    throw new KilnError(
      'validation_failed',
      'the wrapped data key does not open with this join key (altered in transit?)',
      {
        cause: err,
      },
    );
  }
}

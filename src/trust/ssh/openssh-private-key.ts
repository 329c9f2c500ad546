// The OpenSSH private key format (openssh-key-v1, OpenSSH PROTOCOL.key),
// unencrypted, for Ed25519 keys only: enough for Kiln's CA key to be readable
// by `ssh-keygen` and for keys made by `ssh-keygen -t ed25519 -N ''` to load.
import { KilnError } from '../../error/kiln-error.js';
import { SshReader, SshWriter } from './ssh-wire.js';

/** An Ed25519 key pair as raw bytes: 32-byte seed (private) and 32-byte public key. */
export interface Ed25519RawKey {
  seed: Uint8Array;
  publicKey: Uint8Array;
  comment: string;
}

const magic = new TextEncoder().encode('openssh-key-v1\0');
const pemHeader = '-----BEGIN OPENSSH PRIVATE KEY-----';
const pemFooter = '-----END OPENSSH PRIVATE KEY-----';

/**
 * Encodes an unencrypted openssh-key-v1 file. `checkint` is the random 32-bit
 * value OpenSSH uses to detect a wrong passphrase (meaningless unencrypted,
 * but it must be present twice).
 */
export function formatOpenSshEd25519PrivateKey(key: Ed25519RawKey, checkint: number): string {
  const pubBlob = new SshWriter().string('ssh-ed25519').string(key.publicKey).bytes();
  // PROTOCOL.key: uint32 checkint ×2, then per key: string type, string pk,
  // string sk (seed || pk, 64 bytes), string comment; padded 1,2,3… to the
  // cipher block size (8 for "none").
  const priv = new SshWriter()
    .uint32(checkint)
    .uint32(checkint)
    .string('ssh-ed25519')
    .string(key.publicKey)
    .string(concat(key.seed, key.publicKey))
    .string(key.comment);
  const unpadded = priv.bytes().length;
  for (let i = 1; (unpadded + i - 1) % 8 !== 0; i++) priv.byte(i);
  // PROTOCOL.key: "openssh-key-v1\0", string cipher, string kdf, string kdf
  // options, uint32 number of keys, string public key ×N, string private section.
  const body = new SshWriter()
    .raw(magic)
    .string('none')
    .string('none')
    .string(new Uint8Array(0))
    .uint32(1)
    .string(pubBlob)
    .string(priv.bytes())
    .bytes();
  const b64 = Buffer.from(body)
    .toString('base64')
    .replace(/(.{70})/g, '$1\n')
    .replace(/\n$/, '');
  return `${pemHeader}\n${b64}\n${pemFooter}\n`;
}

/**
 * Decodes an unencrypted openssh-key-v1 Ed25519 private key. Throws
 * config_invalid (the file is the operator's or ours, not request input) when
 * the file is encrypted, holds another key type, or is damaged.
 */
export function parseOpenSshEd25519PrivateKey(text: string, source: string): Ed25519RawKey {
  try {
    return decode(text, source);
  } catch (err) {
    if (err instanceof KilnError && err.code === 'validation_failed') {
      throw new KilnError('config_invalid', `${source}: ${err.message}`, { cause: err });
    }
    throw err;
  }
}

function decode(text: string, source: string): Ed25519RawKey {
  const t = text.trim();
  if (!t.startsWith(pemHeader) || !t.endsWith(pemFooter)) {
    throw new KilnError('config_invalid', `${source} is not an OpenSSH private key (expected "${pemHeader}")`);
  }
  const body = new Uint8Array(Buffer.from(t.slice(pemHeader.length, -pemFooter.length).replace(/\s+/g, ''), 'base64'));
  if (!magic.every((b, i) => body[i] === b))
    throw new KilnError('config_invalid', `${source} lacks the openssh-key-v1 magic`);
  const r = new SshReader(body.subarray(magic.length), 'OpenSSH private key');
  const cipher = r.text();
  const kdf = r.text();
  r.string();
  if (cipher !== 'none' || kdf !== 'none') {
    throw new KilnError(
      'config_invalid',
      `${source} is encrypted (cipher ${cipher}); Kiln needs an unencrypted key file with mode 0600`,
    );
  }
  if (r.uint32() !== 1) r.fail('must hold exactly one key');
  r.string();
  const p = new SshReader(r.string(), 'OpenSSH private key section');
  r.end();
  if (p.uint32() !== p.uint32()) p.fail('has mismatched check integers');
  const type = p.text();
  if (type !== 'ssh-ed25519')
    throw new KilnError('config_invalid', `${source} holds a ${type} key; the SSH CA key must be ssh-ed25519`);
  const publicKey = p.string();
  const sk = p.string();
  if (publicKey.length !== 32 || sk.length !== 64) p.fail('has a malformed ssh-ed25519 key');
  if (!sk.subarray(32).every((b, i) => b === publicKey[i]))
    p.fail('has a public key that does not match its private key');
  const comment = p.text();
  const pad = p.rest();
  if (pad.length >= 8 || !pad.every((b, i) => b === i + 1)) p.fail('has bad padding');
  return { seed: sk.slice(0, 32), publicKey: publicKey.slice(), comment };
}

function concat(a: Uint8Array, b: Uint8Array): Uint8Array {
  const out = new Uint8Array(a.length + b.length);
  out.set(a);
  out.set(b, a.length);
  return out;
}

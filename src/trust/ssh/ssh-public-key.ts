// OpenSSH public key lines ("<type> <base64 blob> [comment]", sshd(8)
// AUTHORIZED_KEYS FILE FORMAT without options) and key blobs (RFC 4253 §6.6,
// RFC 5656 §3.1, RFC 8709 §4). Parsing is strict: the line type must match the
// blob, the blob must hold exactly one well-formed key and nothing else.
import { createHash, createPublicKey } from 'node:crypto';
import { KilnError } from '../../error/kiln-error.js';
import { SshReader, SshWriter } from './ssh-wire.js';

/** The plain (non-certificate) key types Kiln signs certificates for. */
export const sshKeyTypes = ['ssh-ed25519', 'ecdsa-sha2-nistp256', 'ssh-rsa'] as const;

/** One of `sshKeyTypes`. */
export type SshKeyType = (typeof sshKeyTypes)[number];

/** Smallest RSA modulus we accept, in bits (OpenSSH itself refuses < 1024; we ask for more). */
export const minRsaBits = 2048;

/**
 * A parsed, validated OpenSSH public key. `blob` is the full wire encoding
 * (type string first); `fields` is the part after the type string, which a
 * certificate embeds verbatim (PROTOCOL.certkeys). `comment` is '' when absent.
 */
export interface SshPublicKey {
  type: SshKeyType;
  blob: Uint8Array;
  fields: Uint8Array;
  comment: string;
}

const base64Strict = /^[A-Za-z0-9+/]+={0,2}$/;

function invalid(message: string): never {
  throw new KilnError('validation_failed', message, {
    issues: [{ path: 'publicKey', code: 'invalid_ssh_public_key', message }],
  });
}

/**
 * Parses one OpenSSH public key line such as the contents of
 * `/etc/ssh/ssh_host_ed25519_key.pub`. Throws validation_failed naming what is
 * wrong (certificate given instead of a key, unsupported type, bad base64,
 * type mismatch, bad key material, trailing bytes).
 */
export function parseSshPublicKey(line: string): SshPublicKey {
  const trimmed = line.trim();
  if (trimmed === '') invalid('SSH public key is empty');
  if (/[\r\n]/.test(trimmed)) invalid('SSH public key must be a single line');
  const [type = '', b64 = '', ...rest] = trimmed.split(/[ \t]+/);
  if (type.includes('-cert-v01@openssh.com'))
    invalid(`SSH public key line holds a certificate (${type}); give the plain public key`);
  if (!(sshKeyTypes as readonly string[]).includes(type)) {
    invalid(`SSH public key type "${type.slice(0, 40)}" is not supported; use one of ${sshKeyTypes.join(', ')}`);
  }
  if (b64 === '') invalid(`SSH public key line has no base64 key after "${type}"`);
  if (!base64Strict.test(b64) || b64.length % 4 !== 0) invalid('SSH public key is not valid base64');
  const blob = new Uint8Array(Buffer.from(b64, 'base64'));
  if (Buffer.from(blob).toString('base64') !== b64) invalid('SSH public key base64 is not canonical');
  const key = decodeSshPublicKeyBlob(blob);
  if (key.type !== type) invalid(`SSH public key line says "${type}" but the key inside is "${key.type}"`);
  return { ...key, comment: rest.join(' ') };
}

/**
 * Decodes and validates a public key blob (wire format). Throws
 * validation_failed for an unsupported type or malformed key material.
 */
export function decodeSshPublicKeyBlob(blob: Uint8Array): Omit<SshPublicKey, 'comment'> {
  const r = new SshReader(blob, 'SSH public key');
  const type = r.text();
  const fieldsStart = 4 + new TextEncoder().encode(type).length;
  switch (type) {
    case 'ssh-ed25519':
      readEd25519(r);
      break;
    case 'ecdsa-sha2-nistp256':
      readEcdsaP256(r);
      break;
    case 'ssh-rsa':
      readRsa(r);
      break;
    default:
      invalid(`SSH public key type "${type.slice(0, 40)}" is not supported; use one of ${sshKeyTypes.join(', ')}`);
  }
  r.end();
  return { type, blob, fields: blob.subarray(fieldsStart) };
}

// RFC 8709 §4: string "ssh-ed25519", string key (32 octets).
function readEd25519(r: SshReader): void {
  const pk = r.string();
  if (pk.length !== 32) r.fail(`ssh-ed25519 key must be 32 bytes, got ${pk.length}`);
}

// RFC 5656 §3.1: string "ecdsa-sha2-nistp256", string "nistp256", string Q
// (SEC1 uncompressed point, 65 octets). The point must lie on the curve.
function readEcdsaP256(r: SshReader): void {
  const curve = new TextDecoder().decode(r.string());
  if (curve !== 'nistp256') r.fail(`ecdsa-sha2-nistp256 key names curve "${curve.slice(0, 20)}", expected nistp256`);
  const q = r.string();
  if (q.length !== 65 || q[0] !== 0x04) r.fail('ecdsa-sha2-nistp256 point must be 65 bytes, uncompressed (0x04 …)');
  const b64u = (b: Uint8Array) => Buffer.from(b).toString('base64url');
  try {
    createPublicKey({
      key: { kty: 'EC', crv: 'P-256', x: b64u(q.subarray(1, 33)), y: b64u(q.subarray(33)) },
      format: 'jwk',
    });
  } catch {
    r.fail('ecdsa-sha2-nistp256 point is not on the curve');
  }
}

// RFC 4253 §6.6: string "ssh-rsa", mpint e, mpint n (RFC 4251 §5 mpint:
// two's complement, no needless leading zero octets).
function readRsa(r: SshReader): void {
  const e = readPositiveMpint(r, 'exponent');
  const n = readPositiveMpint(r, 'modulus');
  if ((e[e.length - 1] & 1) === 0) r.fail('ssh-rsa exponent must be odd');
  const bits = n.length * 8 - Math.clz32(n[0]) + 24;
  if (bits < minRsaBits) r.fail(`ssh-rsa modulus has ${bits} bits; at least ${minRsaBits} are required`);
}

function readPositiveMpint(r: SshReader, name: string): Uint8Array {
  let v = r.string();
  if (v.length === 0) r.fail(`ssh-rsa ${name} is zero`);
  if (v[0] & 0x80) r.fail(`ssh-rsa ${name} is negative`);
  if (v[0] === 0) {
    if (v.length === 1 || (v[1] & 0x80) === 0) r.fail(`ssh-rsa ${name} has a needless leading zero byte`);
    v = v.subarray(1);
  }
  return v;
}

/** Formats a key as an OpenSSH public key line: `<type> <base64>[ <comment>]`. */
export function formatSshPublicKey(key: Pick<SshPublicKey, 'type' | 'blob'> & { comment?: string }): string {
  const b64 = Buffer.from(key.blob).toString('base64');
  return key.comment ? `${key.type} ${b64} ${key.comment}` : `${key.type} ${b64}`;
}

/** The OpenSSH SHA-256 fingerprint of a key blob, as `ssh-keygen -l` prints it: `SHA256:<base64, no padding>`. */
export function formatSshFingerprint(blob: Uint8Array): string {
  return `SHA256:${createHash('sha256').update(blob).digest('base64').replace(/=+$/, '')}`;
}

/** Encodes an Ed25519 public key (32 raw bytes) as an SSH key blob (RFC 8709 §4). */
export function encodeEd25519PublicBlob(raw: Uint8Array): Uint8Array {
  return new SshWriter().string('ssh-ed25519').string(raw).bytes();
}

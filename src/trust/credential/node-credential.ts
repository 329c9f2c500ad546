// Bearer secrets: node credentials (`kn_…`, one per enrolled host) and API
// tokens (`kt_…`, one per operator token). Only the hash is stored.
import { createHash, randomBytes, timingSafeEqual } from 'node:crypto';

/** A freshly issued secret: `secret` is shown once (to the node or operator) and never stored; `hash` is stored. */
export interface IssuedSecret {
  secret: string;
  hash: string;
}

/** Prefix of node credentials. */
export const nodeCredentialPrefix = 'kn_';
/** Prefix of API tokens. */
export const apiTokenPrefix = 'kt_';

const secretPattern = /^(kn|kt)_[A-Za-z0-9_-]{43}$/;

/** Issues a node credential: `kn_` + 32 random bytes in base64url (43 characters). */
export function createNodeCredential(random: (n: number) => Uint8Array = randomBytes): IssuedSecret {
  return issue(nodeCredentialPrefix, random);
}

/** True when `secret` is a node credential whose hash is `hash`; constant time. */
export function verifyNodeCredential(secret: string, hash: string): boolean {
  return secret.startsWith(nodeCredentialPrefix) && verify(secret, hash);
}

/** Issues an API token: `kt_` + 32 random bytes in base64url. */
export function createApiToken(random: (n: number) => Uint8Array = randomBytes): IssuedSecret {
  return issue(apiTokenPrefix, random);
}

/** True when `secret` is an API token whose hash is `hash`; constant time. */
export function verifyApiToken(secret: string, hash: string): boolean {
  return secret.startsWith(apiTokenPrefix) && verify(secret, hash);
}

/**
 * The stored form of a secret: `sha256:<hex>`. A fast hash is right here,
 * unlike for passwords: the secret carries 256 random bits, so no dictionary
 * or brute-force search can reach it, and a slow KDF would only make every
 * heartbeat cost CPU. The hash is also a lookup key (the store can index it).
 */
export function hashSecret(secret: string): string {
  return `sha256:${createHash('sha256').update(secret, 'utf8').digest('hex')}`;
}

/** True when `s` has the exact shape of a Kiln node credential or API token (cheap pre-check before any lookup). */
export function isSecretShaped(s: string): boolean {
  return secretPattern.test(s);
}

function issue(prefix: string, random: (n: number) => Uint8Array): IssuedSecret {
  const secret = prefix + Buffer.from(random(32)).toString('base64url');
  return { secret, hash: hashSecret(secret) };
}

function verify(secret: string, hash: string): boolean {
  if (!secretPattern.test(secret)) return false;
  const a = Buffer.from(hashSecret(secret));
  const b = Buffer.from(hash);
  return a.length === b.length && timingSafeEqual(a, b);
}

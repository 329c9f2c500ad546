import { createHash, randomBytes, timingSafeEqual } from 'node:crypto';

/** Prefix of API bearer tokens, so a leaked token is recognisable (and greppable). */
export const apiTokenPrefix = 'kt_';

/** A new API token: 32 random bytes, base64url, with its prefix. Shown once. */
export function generateApiToken(): string {
  return apiTokenPrefix + randomBytes(32).toString('base64url');
}

/**
 * SHA-256 of a token, hex. Tokens carry 256 bits of entropy, so a fast hash is
 * enough: no dictionary to attack, unlike passwords (argon2 there).
 */
export function hashToken(token: string): string {
  return createHash('sha256').update(token, 'utf8').digest('hex');
}

/** Constant-time comparison of a token with a stored hash. */
export function tokenMatches(token: string, storedHash: string): boolean {
  const a = Buffer.from(hashToken(token), 'hex');
  const b = Buffer.from(storedHash, 'hex');
  return a.length === b.length && timingSafeEqual(a, b);
}

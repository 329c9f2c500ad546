import { createHash } from 'node:crypto';

/** The public members of a JWK that RFC 7638 hashes, per key type (EC, RSA, oct, OKP). */
const required: Record<string, readonly string[]> = {
  EC: ['crv', 'kty', 'x', 'y'],
  RSA: ['e', 'kty', 'n'],
  oct: ['k', 'kty'],
  OKP: ['crv', 'kty', 'x'],
};

/**
 * The RFC 7638 thumbprint of a JWK: SHA-256 (`S256`, what `jose jwk thp -a
 * S256` and Clevis's `thp` use) over the required members in lexical order,
 * as JSON without blanks, base64url without padding. Pure. Throws a
 * RangeError for an unknown key type or a missing member.
 */
export function jwkThumbprint(jwk: Record<string, unknown>): string {
  const kty = typeof jwk['kty'] === 'string' ? jwk['kty'] : '';
  const members = required[kty];
  if (!members) throw new RangeError(`JWK key type "${kty}" has no RFC 7638 thumbprint here (EC, RSA, oct, OKP)`);
  const canonical: Record<string, string> = {};
  for (const m of members) {
    const v = jwk[m];
    if (typeof v !== 'string') throw new RangeError(`JWK of type ${kty} has no "${m}"`);
    canonical[m] = v;
  }
  return createHash('sha256').update(JSON.stringify(canonical)).digest('base64url');
}

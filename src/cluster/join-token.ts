// The one-time join token (`kiln controller join-token`), pure. Like kubeadm's
// bootstrap token with its discovery-token-ca-cert-hash in one string:
//
//   kjt1.<id>.<secret>.<ca>
//
// id: 12 hex digits, the row's key (not secret); secret: 32 random bytes,
// base64url, stored only as its SHA-256; ca: the SHA-256 of the DER of the
// issuing member's TLS CA certificate, 64 hex digits, which the joiner pins
// before it sends anything (the admin token included).
import { createHash, randomBytes, X509Certificate } from 'node:crypto';
import { KilnError } from '../error/kiln-error.js';

/** A parsed join token. */
export interface JoinToken {
  id: string;
  secret: string;
  /** SHA-256 of the issuing member's TLS CA certificate (DER), lower-case hex. */
  caPin: string;
}

const shape = /^kjt1\.([0-9a-f]{12})\.([A-Za-z0-9_-]{43})\.([0-9a-f]{64})$/;

/** A new token for the member whose TLS CA certificate is `caPem`. */
export function newJoinToken(caPem: string): JoinToken {
  return { id: randomBytes(6).toString('hex'), secret: randomBytes(32).toString('base64url'), caPin: caPinOf(caPem) };
}

/** The token as the operator copies it. */
export function formatJoinToken(t: JoinToken): string {
  return `kjt1.${t.id}.${t.secret}.${t.caPin}`;
}

/** Parses a token as `formatJoinToken` writes it (surrounding blanks ignored); throws validation_failed otherwise. */
export function parseJoinToken(text: string): JoinToken {
  const m = shape.exec(text.trim());
  if (!m)
    throw new KilnError(
      'validation_failed',
      'the join token must be kjt1.<12 hex>.<43 base64url>.<64 hex>, as `kiln controller join-token` prints it',
      { issues: [{ path: 'token', code: 'invalid_join_token', message: 'not a join token' }] },
    );
  return { id: m[1], secret: m[2], caPin: m[3] };
}

/** What the store keeps of a token's secret. */
export function hashJoinSecret(secret: string): string {
  return createHash('sha256').update(secret, 'utf8').digest('hex');
}

/** SHA-256 of a PEM certificate's DER, lower-case hex (the token's pin). */
export function caPinOf(pem: string): string {
  return createHash('sha256').update(new X509Certificate(pem).raw).digest('hex');
}

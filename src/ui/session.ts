import { createHmac, timingSafeEqual } from 'node:crypto';
import { sessionCookieName } from '../api/session-cookie.js';

/**
 * The CSRF token of a session: an HMAC of a fixed label keyed by the session
 * secret (a synchronizer token that needs no storage). A page carries it in
 * every form; a cross-site page has neither the cookie's value nor the token.
 */
export function csrfToken(sessionSecret: string): string {
  return createHmac('sha256', sessionSecret).update('kiln-ui-csrf-v1').digest('base64url');
}

/** True when `given` is the session's CSRF token (constant-time compare). */
export function csrfMatches(sessionSecret: string, given: unknown): boolean {
  if (typeof given !== 'string' || given.length > 128) return false;
  const want = Buffer.from(csrfToken(sessionSecret));
  const got = Buffer.from(given);
  return got.length === want.length && timingSafeEqual(got, want);
}

/**
 * The Set-Cookie value of a session: HttpOnly (no script reads it),
 * SameSite=Strict (no cross-site request carries it), Secure over TLS, living
 * as long as the session; `null` clears the cookie.
 */
export function sessionCookie(secret: string | null, o: { secure: boolean; maxAgeSeconds?: number }): string {
  const attrs = ['Path=/', 'HttpOnly', 'SameSite=Strict', ...(o.secure ? ['Secure'] : [])];
  if (secret === null) return [`${sessionCookieName}=`, 'Max-Age=0', ...attrs].join('; ');
  return [`${sessionCookieName}=${secret}`, `Max-Age=${Math.max(0, Math.floor(o.maxAgeSeconds ?? 0))}`, ...attrs].join(
    '; ',
  );
}

/** A same-site path to return to after login (`/ui/hosts?state=ready`); anything else becomes `/`. */
export function safeNext(next: unknown): string {
  if (typeof next !== 'string' || next.length > 500) return '/';
  return /^\/(?![/\\])[^\s]*$/.test(next) ? next : '/';
}

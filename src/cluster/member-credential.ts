// The member-to-member credential (docs/security.md, "Members"): what one
// member sends when it fetches content from another. Every member holds the
// store's data key (it joined for it); the credential key is derived from it
// with HKDF, so no new secret is stored or moved, and a process without the
// data key cannot make one. A request is signed, not a bearer secret sent as
// is:
//
//   Authorization: KilnMember v1.<member id>.<unix ms>.<nonce>.<mac>
//   mac = base64url(HMAC-SHA256(key, "v1\n<METHOD>\n<path>\n<unix ms>\n<nonce>\n<member id>"))
//
// A signature names one method and path and is accepted for 60 s either side
// of the receiver's clock; it travels only inside TLS verified against the
// receiving member's CA (the routes refuse it on plain HTTP), so a copy cannot
// be read off the wire to replay. Replaying a read within the window gains
// nothing the signer could not read.
import { createHmac, hkdfSync, randomBytes, timingSafeEqual } from 'node:crypto';
import { KilnError } from '../error/kiln-error.js';

/** The HTTP authorization scheme of the member credential. */
export const MEMBER_SCHEME = 'KilnMember';

/** How far a signature's time may be from the receiver's clock, either way (ms). */
export const MEMBER_SKEW_MS = 60_000;

/** The 32-byte HMAC key of the member credential, derived from the store's data key (HKDF-SHA256). */
export type MemberKey = Uint8Array & { readonly __memberKey: true };

/** Derives the member credential key from the data key; the same on every member of a store. */
export function memberKeyOf(dataKey: Uint8Array): MemberKey {
  return new Uint8Array(hkdfSync('sha256', dataKey, '', 'kiln member credential v1', 32)) as MemberKey;
}

const memberId = /^[A-Za-z0-9-]{1,64}$/;

function macOf(key: MemberKey, method: string, path: string, at: string, nonce: string, member: string): string {
  return createHmac('sha256', key)
    .update(['v1', method.toUpperCase(), path, at, nonce, member].join('\n'))
    .digest('base64url');
}

/** The `Authorization` header value for one request by `member` (a `controllers` row id) at `nowMs`. */
export function signMemberRequest(
  key: MemberKey,
  r: { member: string; method: string; path: string; nowMs: number },
): string {
  if (!memberId.test(r.member)) throw new Error(`member id ${JSON.stringify(r.member)}: letters, digits and dashes`);
  const at = String(Math.trunc(r.nowMs));
  const nonce = randomBytes(12).toString('base64url');
  return `${MEMBER_SCHEME} v1.${r.member}.${at}.${nonce}.${macOf(key, r.method, r.path, at, nonce, r.member)}`;
}

/**
 * Checks a member credential for this method and path; returns the signing
 * member's id. Throws `credential_invalid` for a missing, malformed, stale or
 * wrong one (the message never says which part was wrong beyond that).
 */
export function verifyMemberRequest(
  key: MemberKey,
  header: string | undefined,
  r: { method: string; path: string; nowMs: number },
): string {
  const bad = (why: string) => new KilnError('credential_invalid', `member credential: ${why}`);
  if (!header) throw bad(`send "Authorization: ${MEMBER_SCHEME} …" (members only)`);
  const m = /^KilnMember v1\.([A-Za-z0-9-]{1,64})\.(\d{1,16})\.([A-Za-z0-9_-]{16})\.([A-Za-z0-9_-]{43})$/.exec(header);
  if (!m) throw bad('malformed');
  const [, member, at, nonce, mac] = m;
  if (Math.abs(Number(at) - r.nowMs) > MEMBER_SKEW_MS) throw bad('too old or from the future (check the clocks)');
  const want = Buffer.from(macOf(key, r.method, r.path, at, nonce, member));
  const got = Buffer.from(mac);
  if (want.length !== got.length || !timingSafeEqual(want, got)) throw bad('wrong signature');
  return member;
}

/** The cookie holding a web UI login session (the same secret as a `kiln login` session token; only its hash is stored). */
export const sessionCookieName = 'kiln_session';

/** The value of cookie `name` in a Cookie header, or null. Values are not decoded: Kiln's own are base64url. */
export function readCookie(header: string | undefined, name: string): string | null {
  if (!header) return null;
  for (const part of header.split(';')) {
    const at = part.indexOf('=');
    if (at > 0 && part.slice(0, at).trim() === name) return part.slice(at + 1).trim() || null;
  }
  return null;
}

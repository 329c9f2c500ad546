/**
 * The egress rule for a URL an operator gives Kiln to POST to (power webhook
 * URLs, outbound hook URLs): http or https only, and no user or password in
 * it (the HMAC signature is the credential, and a URL ends up in logs and
 * records). Any host is allowed, the controller's own loopback included: the
 * request carries no Kiln token, redirects are not followed, and the reply
 * body is never shown to a caller (docs/security.md, "Operator input at
 * subprocess, URL and path edges"). Returns the URL, or calls `refuse` with
 * the reason, which throws.
 */
export function checkEgressUrl(raw: string, refuse: (why: string) => never): URL {
  let url: URL;
  try {
    url = new URL(raw);
  } catch {
    return refuse('is not a URL');
  }
  if (url.protocol !== 'http:' && url.protocol !== 'https:') refuse('must be an http:// or https:// URL');
  if (url.username || url.password) refuse('may not carry a user or password (the signature authenticates Kiln)');
  return url;
}

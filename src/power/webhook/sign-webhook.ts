import { createHmac, timingSafeEqual } from 'node:crypto';

/** Header carrying the Unix time (seconds) the request was signed at. */
export const timestampHeader = 'x-kiln-timestamp';
/** Header carrying `sha256=<hex HMAC-SHA256(secret, "<timestamp>.<body>")>`. */
export const signatureHeader = 'x-kiln-signature';

/** Signs a webhook body: HMAC-SHA256 over `timestamp + "." + body`, hex, prefixed `sha256=`. */
export function signWebhook(secret: string, timestamp: number, body: string): string {
  return `sha256=${createHmac('sha256', secret).update(`${timestamp}.${body}`).digest('hex')}`;
}

/**
 * Verifies a signature in constant time and rejects timestamps more than
 * `toleranceSec` from `nowSec` (replay protection). For receivers and tests.
 */
export function verifyWebhook(
  secret: string,
  timestamp: number,
  body: string,
  signature: string,
  nowSec: number,
  toleranceSec = 300,
): boolean {
  if (!Number.isFinite(timestamp) || Math.abs(nowSec - timestamp) > toleranceSec) return false;
  const want = Buffer.from(signWebhook(secret, timestamp, body));
  const got = Buffer.from(signature);
  return want.length === got.length && timingSafeEqual(want, got);
}

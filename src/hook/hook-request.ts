// The wire form of one hook delivery (docs/hooks.md): a JSON body and the
// headers that identify and sign it. The body is the same on every attempt
// of a delivery; the timestamp and so the signature are per attempt.
import { signatureHeader, signWebhook, timestampHeader } from '../power/webhook/sign-webhook.js';
import type { KilnEvent } from '../event/event.js';

/** Header carrying the delivery id (the same on every attempt; receivers dedupe on it). */
const deliveryHeader = 'x-kiln-delivery';
/** Header carrying the event kind, for routing without parsing the body. */
const eventHeader = 'x-kiln-event';

/** The body every hook receives: `{ deliveryId, hook, event }` as JSON. */
export function formatHookBody(deliveryId: string, hook: string, event: KilnEvent): string {
  return JSON.stringify({ deliveryId, hook, event });
}

/** Headers of one attempt: content type, delivery id, kind, Unix timestamp, and `sha256=` HMAC over `"<timestamp>.<body>"`. */
export function hookHeaders(
  secret: string,
  deliveryId: string,
  kind: string,
  body: string,
  nowSec: number,
): Record<string, string> {
  return {
    'content-type': 'application/json',
    'user-agent': 'kiln-hook/1',
    [deliveryHeader]: deliveryId,
    [eventHeader]: kind,
    [timestampHeader]: String(nowSec),
    [signatureHeader]: signWebhook(secret, nowSec, body),
  };
}

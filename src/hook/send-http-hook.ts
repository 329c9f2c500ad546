import { request } from 'undici';
import type { Logger } from '../log/logger.js';
import { readCapped } from '../power/read-capped.js';
import type { AttemptResult } from './hook.js';
import { hookHeaders } from './hook-request.js';

/** One HTTP attempt: where, what, and the signing secret. */
export interface HttpAttempt {
  url: string;
  secret: string;
  deliveryId: string;
  kind: string;
  body: string;
  /** Unix seconds for the timestamp header (and so the signature). */
  nowSec: number;
  timeoutMs: number;
  /** Aborted when the controller stops: the attempt ends at once and counts as failed (it is retried). */
  signal?: AbortSignal;
}

/**
 * POSTs one delivery. A 2xx answer is delivered; anything else (3xx too:
 * redirects are not followed, the signature is for this URL) or no answer
 * in `timeoutMs` fails. The receiver's body is read (at most 4 KiB) only for
 * the debug log: the result carries Kiln's own sentence, never its text.
 */
export async function sendHttpHook(a: HttpAttempt, log: Logger): Promise<AttemptResult> {
  const timeout = AbortSignal.timeout(a.timeoutMs);
  let res;
  try {
    res = await request(a.url, {
      method: 'POST',
      body: a.body,
      headers: hookHeaders(a.secret, a.deliveryId, a.kind, a.body, a.nowSec),
      signal: a.signal ? AbortSignal.any([a.signal, timeout]) : timeout,
      headersTimeout: a.timeoutMs,
      bodyTimeout: a.timeoutMs,
    });
  } catch (err) {
    const e = err as Error & { code?: string };
    const code = e.code && /^[A-Z_]{1,40}$/.test(e.code) ? e.code : 'request error';
    log.debug({ deliveryId: a.deliveryId, err: `${e.code ?? ''} ${e.message}`.trim() }, 'hook delivery failed');
    if (a.signal?.aborted) return { ok: false, status: null, error: 'stopped: the controller shut down' };
    if (timeout.aborted || /Timeout/i.test(`${e.name} ${e.code}`))
      return { ok: false, status: null, error: `no answer within ${a.timeoutMs} ms` };
    return { ok: false, status: null, error: `request failed: ${code}` };
  }
  const { text } = await readCapped(res.body, 4096).catch(() => ({ text: '' }));
  log.debug({ deliveryId: a.deliveryId, status: res.statusCode, body: text.slice(0, 500) }, 'hook delivery answered');
  if (res.statusCode >= 200 && res.statusCode < 300) return { ok: true, status: res.statusCode };
  const redirect = res.statusCode >= 300 && res.statusCode < 400 ? ' (redirects are not followed)' : '';
  return { ok: false, status: res.statusCode, error: `answered HTTP ${res.statusCode}${redirect}` };
}

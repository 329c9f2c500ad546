import assert from 'node:assert/strict';
import { test } from 'node:test';
import { retryDelayMs } from './back-off.js';
import { hookMatches } from './hook.js';
import { formatHookBody, hookHeaders } from './hook-request.js';
import { verifyWebhook } from '../power/webhook/sign-webhook.js';
import { createHmac } from 'node:crypto';
import type { KilnEvent } from '../event/event.js';

test('filter matching: kind prefixes, whole kinds, *, and the host filter', () => {
  const e = (kind: string, hostId: string | null = 'h1') => ({ kind, hostId });
  const cases: Array<
    [string, { kinds: string[]; hostId: string | null }, { kind: string; hostId: string | null }, boolean]
  > = [
    ['prefix matches', { kinds: ['host.'], hostId: null }, e('host.state_changed'), true],
    ['prefix does not match another family', { kinds: ['host.'], hostId: null }, e('power.failed'), false],
    ['whole kind matches itself', { kinds: ['host.state_changed'], hostId: null }, e('host.state_changed'), true],
    ['any of several', { kinds: ['power.', 'deploy.'], hostId: null }, e('deploy.started'), true],
    ['* takes every event', { kinds: ['*'], hostId: null }, e('rule.saved', null), true],
    ['host filter: that host', { kinds: ['host.'], hostId: 'h1' }, e('host.state_changed', 'h1'), true],
    ['host filter: another host', { kinds: ['host.'], hostId: 'h1' }, e('host.state_changed', 'h2'), false],
    ['host filter: an event of no host', { kinds: ['*'], hostId: 'h1' }, e('rule.saved', null), false],
  ];
  for (const [name, f, ev, want] of cases) assert.equal(hookMatches(f, ev), want, name);
});

test('back-off: exponential steps capped at max, equal jitter, dead after the last attempt', () => {
  const s = { attempts: 6, baseSeconds: 5, maxSeconds: 60 };
  const low = () => 0;
  const high = () => 0.999999;
  // Steps 5, 10, 20, 40, 60 s; with equal jitter a delay lies in [step/2, step).
  assert.deepEqual(
    [1, 2, 3, 4, 5].map((a) => retryDelayMs(a, s, low)),
    [2500, 5000, 10_000, 20_000, 30_000],
  );
  assert.deepEqual(
    [1, 2, 3, 4, 5].map((a) => retryDelayMs(a, s, high)),
    [5000, 10_000, 20_000, 40_000, 60_000],
  );
  assert.equal(retryDelayMs(6, s, low), null, 'the 6th attempt was the last');
  assert.equal(retryDelayMs(7, s, low), null);
  assert.equal(retryDelayMs(200, { attempts: 500, baseSeconds: 1, maxSeconds: 10 }, high), 10_000, 'no overflow');
});

test('signing: HMAC-SHA256 over "<timestamp>.<body>", verifiable by a receiver with the secret only', () => {
  const event: KilnEvent = {
    seq: 7,
    at: '2026-12-06T00:00:00.000Z',
    actor: 'token:ops',
    kind: 'host.state_changed',
    hostId: 'h1',
    subject: 'web-1',
    message: 'web-1: new → ready',
    reason: null,
    before: { state: 'new' },
    after: { state: 'ready' },
    data: null,
  };
  const body = formatHookBody('d-1', 'ops', event);
  assert.deepEqual(JSON.parse(body), { deliveryId: 'd-1', hook: 'ops', event });
  const h = hookHeaders('khs_secret', 'd-1', event.kind, body, 1_780_000_000);
  assert.equal(h['x-kiln-delivery'], 'd-1');
  assert.equal(h['x-kiln-event'], 'host.state_changed');
  assert.equal(h['x-kiln-timestamp'], '1780000000');
  // The documented scheme, computed independently (docs/hooks.md).
  const want = createHmac('sha256', 'khs_secret').update(`1780000000.${body}`).digest('hex');
  assert.equal(h['x-kiln-signature'], `sha256=${want}`);
  assert.ok(verifyWebhook('khs_secret', 1_780_000_000, body, h['x-kiln-signature'], 1_780_000_010));
  assert.ok(!verifyWebhook('other', 1_780_000_000, body, h['x-kiln-signature'], 1_780_000_010), 'wrong secret');
  assert.ok(
    !verifyWebhook('khs_secret', 1_780_000_000, `${body} `, h['x-kiln-signature'], 1_780_000_010),
    'body changed',
  );
  assert.ok(!verifyWebhook('khs_secret', 1_780_000_000, body, h['x-kiln-signature'], 1_780_001_000), 'too old');
});

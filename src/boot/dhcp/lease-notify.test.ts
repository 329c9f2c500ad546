import { test } from 'node:test';
import assert from 'node:assert/strict';
import { decodeLeaseNotice, encodeLeaseNotices } from './lease-notify.js';
import type { Lease } from './lease-store.js';

const lease = (n: number, state: Lease['state'] = 'bound'): Lease => ({
  ip: `10.113.${n >> 8}.${n & 255}`,
  mac: `52:54:01:00:${((n >> 8) & 255).toString(16).padStart(2, '0')}:${(n & 255).toString(16).padStart(2, '0')}`,
  subnet: '10.113.0.0/16',
  expiresAt: 1_796_000_000_000 + n,
  state,
});

test('lease notices: a batch round-trips with origin, state and end; the hostname is not sent', () => {
  const batch = [{ ...lease(1), hostname: 'web-1' }, lease(2, 'declined')];
  const notices = encodeLeaseNotices('a1b2c3', batch);
  assert.equal(notices.length, 1);
  assert.deepEqual(decodeLeaseNotice(notices[0]!), {
    origin: 'a1b2c3',
    leases: [lease(1), lease(2, 'declined')],
  });
  assert.deepEqual(encodeLeaseNotices('a1b2c3', []), [], 'nothing written, nothing sent');
});

test('lease notices: a large batch is split under PostgreSQL payload limit (8000 bytes), in order', () => {
  const batch = Array.from({ length: 1000 }, (_, i) => lease(i));
  const notices = encodeLeaseNotices('o', batch);
  assert.ok(notices.length > 1, `${notices.length} notices`);
  for (const n of notices) assert.ok(Buffer.byteLength(n) < 8000, `${Buffer.byteLength(n)} bytes`);
  assert.deepEqual(
    notices.flatMap((n) => decodeLeaseNotice(n)!.leases),
    batch,
  );
});

test('lease notices: anything else is not a notice', () => {
  for (const bad of [
    '',
    'x',
    '{}',
    'null',
    '{"o":1,"l":[]}',
    '{"o":"a","l":[["10.0.0.1","m","s","1","b"]]}',
    '{"o":"a","l":[["10.0.0.1","m","s",1,"x"]]}',
  ])
    assert.equal(decodeLeaseNotice(bad), undefined, bad);
});

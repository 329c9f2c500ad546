import assert from 'node:assert/strict';
import { test } from 'node:test';
import { createCompletionLog } from './completions.js';

test('completions per second are counted over twice the quickest boot, at least the rate span; the quickest over the longer span', () => {
  const log = createCompletionLog({ capacity: 100, rateSpanMs: 10_000, minSpanMs: 60_000 });
  assert.deepEqual(log.summary(0), { total: 0, perSecond: 0, minMs: null, medianMs: null });
  log.add(1_000, 4_000); // quick, but soon outside the rate span
  for (let i = 0; i < 20; i++) log.add(50_000 + i * 100, 9_000 + i);
  assert.deepEqual(
    log.summary(55_000),
    { total: 21, perSecond: 2, minMs: 4_000, medianMs: 9_009 },
    '20 in the last 10 s',
  );
  assert.deepEqual(
    log.summary(62_000),
    { total: 21, perSecond: 20 / 18, minMs: 9_000, medianMs: 9_009 },
    'the quick boot is over a minute old: the quickest is 9 s, so 20 in the last 18 s',
  );
  assert.deepEqual(log.summary(200_000), { total: 21, perSecond: 0, minMs: null, medianMs: null });
});

test('boots of minutes are counted over minutes, at most the longer span', () => {
  const log = createCompletionLog({ capacity: 100, rateSpanMs: 10_000, minSpanMs: 1_200_000 });
  for (let i = 0; i < 30; i++) log.add(600_000 + i * 10_000, 400_000);
  // Quickest 400 s: completions over the last 800 s, all 30 of them.
  assert.deepEqual(log.summary(900_000), { total: 30, perSecond: 30 / 800, minMs: 400_000, medianMs: 400_000 });
});

test('the ring forgets the oldest completions beyond its capacity; the total keeps counting', () => {
  const log = createCompletionLog({ capacity: 4, rateSpanMs: 1_000, minSpanMs: 1_000 });
  log.add(0, 1);
  for (let i = 1; i <= 5; i++) log.add(i, 100 + i);
  const s = log.summary(10);
  assert.equal(s.total, 6);
  assert.equal(s.perSecond, 4, 'four remembered');
  assert.equal(s.minMs, 102, 'the 1 ms boot was forgotten');
});

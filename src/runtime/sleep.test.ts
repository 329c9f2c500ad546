import assert from 'node:assert/strict';
import { getEventListeners } from 'node:events';
import { test } from 'node:test';
import { sleepUnlessAborted } from './sleep.js';

test('a sleep leaves no listener on the signal when its timer fires, and ends at once on abort', async () => {
  const ac = new AbortController();
  for (let i = 0; i < 20; i++) await sleepUnlessAborted(1, ac.signal);
  assert.equal(getEventListeners(ac.signal, 'abort').length, 0, 'no listener piles up');
  const t0 = Date.now();
  const long = sleepUnlessAborted(60_000, ac.signal);
  ac.abort();
  await long;
  assert.ok(Date.now() - t0 < 30_000, 'woken by the abort, not the timer');
  await sleepUnlessAborted(60_000, ac.signal); // already aborted: at once
  await sleepUnlessAborted(1);
});

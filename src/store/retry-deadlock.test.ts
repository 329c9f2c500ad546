import assert from 'node:assert/strict';
import { test } from 'node:test';
import { DEADLOCK_DETECTED, retryOnDeadlock } from './retry-deadlock.js';

const deadlock = () => Object.assign(new Error('deadlock detected'), { code: DEADLOCK_DETECTED });

test('a transaction chosen as a deadlock victim runs again; other errors and the last attempt are thrown', async () => {
  let n = 0;
  assert.equal(
    await retryOnDeadlock(async () => {
      if (++n < 3) throw deadlock();
      return 'ok';
    }),
    'ok',
  );
  assert.equal(n, 3);
  n = 0;
  await assert.rejects(
    retryOnDeadlock(async () => {
      n++;
      throw deadlock();
    }, 2),
    /deadlock detected/,
  );
  assert.equal(n, 2, 'at most `attempts` runs');
  n = 0;
  await assert.rejects(
    retryOnDeadlock(async () => {
      n++;
      throw Object.assign(new Error('unique violation'), { code: '23505' });
    }),
    /unique violation/,
  );
  assert.equal(n, 1, 'no retry for another error');
});

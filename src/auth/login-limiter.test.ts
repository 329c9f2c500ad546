import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { createLoginLimiter } from './login-limiter.js';

describe('login limiter', async () => {
  it('blocks a source after maxFailures in the window and frees it as failures age out', async () => {
    let t = 1_000_000;
    const l = createLoginLimiter({ now: () => t, limit: { maxFailures: 3, windowMs: 60_000 } });
    await l.fail('a');
    t += 10_000;
    await l.fail('a');
    t += 10_000;
    assert.equal(await l.retryAfter('a'), 0, 'two failures: may still try');
    await l.fail('a');
    // Oldest failure at 1_000_000 leaves the window at 1_060_000; now is 1_020_000.
    assert.equal(await l.retryAfter('a'), 40);
    t += 39_999;
    assert.equal(await l.retryAfter('a'), 1);
    t += 1;
    assert.equal(await l.retryAfter('a'), 0, 'the oldest failure left the window');
    await l.fail('a');
    assert.equal(await l.retryAfter('a'), 10, 'sliding: the second failure still counts until 1_070_000');
  });

  it('counts each source separately', async () => {
    const l = createLoginLimiter({ now: () => 0, limit: { maxFailures: 2 } });
    await l.fail('a');
    await l.fail('a');
    assert.equal(await l.retryAfter('a'), 60);
    assert.equal(await l.retryAfter('b'), 0);
  });

  it('forgets the least recently failing source beyond maxSources', async () => {
    let t = 0;
    const l = createLoginLimiter({ now: () => t, limit: { maxFailures: 1, maxSources: 2 } });
    await l.fail('a');
    t++;
    await l.fail('b');
    t++;
    await l.fail('a');
    t++;
    await l.fail('c');
    assert.equal(await l.retryAfter('b'), 0, 'b was the least recent and is forgotten');
    assert.ok((await l.retryAfter('a')) > 0);
    assert.ok((await l.retryAfter('c')) > 0);
  });
});

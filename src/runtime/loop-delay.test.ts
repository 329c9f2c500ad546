import assert from 'node:assert/strict';
import { test } from 'node:test';
import { watchLoopDelay } from './loop-delay.js';

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

test('loop delay: a blocked loop reads late, an idle one reads about nothing, and each read starts afresh', async () => {
  const d = watchLoopDelay(10);
  try {
    await sleep(100);
    d.sinceLast();
    // Block the loop for 300 ms a few times: the timer behind the histogram fires that late.
    for (let i = 0; i < 3; i++) {
      const until = Date.now() + 300;
      while (Date.now() < until);
      await sleep(15);
    }
    const blocked = d.sinceLast();
    assert.ok(blocked >= 100, `a loop blocked for 300 ms at a time reads at least 100 ms late: ${blocked}`);
    await sleep(200);
    const idle = d.sinceLast();
    assert.ok(idle < blocked, `the next read covers only the idle time after it: ${idle} < ${blocked}`);
  } finally {
    d.close();
  }
});

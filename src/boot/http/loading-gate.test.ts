import assert from 'node:assert/strict';
import { test } from 'node:test';
import { createLoadingGate, defaultLoadingGateRules, type GateAnswer } from './loading-gate.js';

const rules = { ...defaultLoadingGateRules, maxLoading: 2, holdMs: 60_000, forgetMs: 20_000, maxDelaySeconds: 30 };
const waitOf = (a: GateAnswer) => {
  assert.equal(a.admit, false);
  return a as Extract<GateAnswer, { admit: false }>;
};

test('loading gate: lets maxLoading machines through, queues the rest in arrival order, and frees a slot on release', () => {
  const g = createLoadingGate(rules);
  assert.deepEqual(g.ask('a', 0), { admit: true });
  assert.deepEqual(g.ask('b', 0), { admit: true });
  const c = waitOf(g.ask('c', 1));
  const d = waitOf(g.ask('d', 2));
  assert.equal(c.position, 1);
  assert.equal(d.position, 2);
  assert.equal(d.waiting, 2);
  assert.equal(d.loading, 2);
  // Asking again while loading (a retried kernel) keeps the slot.
  assert.deepEqual(g.ask('a', 3), { admit: true });
  g.release('a', 4);
  // One slot free: d (second in the queue) asks first and is still told to wait; c gets it.
  assert.equal(waitOf(g.ask('d', 5)).position, 2);
  assert.deepEqual(g.ask('c', 6), { admit: true });
  assert.equal(waitOf(g.ask('d', 7)).position, 1);
  // A newcomer goes behind d even when a slot frees up.
  g.release('b', 8);
  assert.equal(waitOf(g.ask('e', 9)).position, 2);
  assert.deepEqual(g.ask('d', 10), { admit: true });
  assert.deepEqual(g.stats(10), { loading: 2, waiting: 1, finishedPerS: 2 / 30, expired: 0 });
});

test('loading gate: a slot not released is taken back after holdMs; a waiter that stopped asking leaves the queue', () => {
  const g = createLoadingGate(rules);
  g.ask('a', 0);
  g.ask('b', 0);
  waitOf(g.ask('c', 0)); // stops asking
  waitOf(g.ask('d', 1_000));
  // c has not asked for 20 s: forgotten, so d is first; a and b still hold their slots.
  assert.equal(waitOf(g.ask('d', 59_999)).position, 1);
  // a and b never report their initrd: both slots come back at 60 s.
  assert.deepEqual(g.ask('d', 60_000), { admit: true });
  assert.deepEqual(g.ask('e', 60_001), { admit: true });
  assert.equal(g.stats(60_001).expired, 2);
  assert.equal(g.stats(60_001).waiting, 0);
});

test('loading gate: the delay grows with the place in the queue and the rate of finished loads, within 1 s and the maximum', () => {
  const g = createLoadingGate({ ...rules, maxLoading: 1 });
  g.ask('m0', 0);
  // Nothing finished yet: 5 s.
  assert.equal(waitOf(g.ask('w0', 0)).delaySeconds, 5);
  for (let i = 1; i <= 100; i++) waitOf(g.ask(`w${i}`, 0));
  // Ten loads finish in 10 s (each next machine is admitted and released).
  g.release('m0', 1_000);
  for (let i = 0; i < 9; i++) {
    assert.deepEqual(g.ask(`w${i}`, 1_000 * (i + 1)), { admit: true });
    g.release(`w${i}`, 1_000 * (i + 2));
  }
  // 10 finished in the last 30 s: a third of one a second. w9 is at the head and takes the free slot next; w10 is
  // one place behind it: 3 s; w100, 91 places behind, 30 s (the maximum).
  const head = waitOf(g.ask('w10', 10_500));
  assert.equal(head.position, 2);
  assert.equal(head.delaySeconds, 3); // ceil(1 / (10/30))
  assert.equal(waitOf(g.ask('w100', 10_500)).delaySeconds, 30);
});

test('loading gate: maxLoading 0 lets every machine through', () => {
  const g = createLoadingGate({ ...rules, maxLoading: 0 });
  for (let i = 0; i < 1000; i++) assert.deepEqual(g.ask(`m${i}`, 0), { admit: true });
});

test('loading gate: 2 000 machines at once are all let through, near arrival order, asking far less than once a second', () => {
  const g = createLoadingGate({ ...rules, maxLoading: 64, holdMs: 600_000, forgetMs: 600_000 });
  const n = 2_000;
  const nextAsk = new Array<number>(n).fill(0);
  const doneAt = new Array<number>(n).fill(-1);
  const admittedOrder: number[] = [];
  const loadingUntil = new Map<number, number>();
  let asks = 0;
  // Simulated time in 100 ms steps; each load takes 2 s.
  for (let t = 0; t < 3_600_000 && admittedOrder.length < n; t += 100) {
    for (const [m, until] of loadingUntil)
      if (until <= t) {
        g.release(`m${m}`, t);
        loadingUntil.delete(m);
        doneAt[m] = t;
      }
    for (let m = 0; m < n; m++) {
      if (doneAt[m] >= 0 || loadingUntil.has(m) || nextAsk[m]! > t) continue;
      asks++;
      const a = g.ask(`m${m}`, t);
      if (a.admit) {
        admittedOrder.push(m);
        loadingUntil.set(m, t + 2_000);
      } else nextAsk[m] = t + a.delaySeconds * 1000;
    }
  }
  assert.equal(admittedOrder.length, n);
  // First come, first served, within the free slots: machines asked in index order at t=0, and any of the first
  // `free` waiters may take a slot.
  admittedOrder.forEach((m, i) => assert.ok(Math.abs(m - i) <= 64, `machine ${m} let through ${i}th`));
  // The batch takes about n / 32 s (64 slots, 2 s loads) = 62.5 s; once a second each would be 62 500 asks.
  assert.ok(asks < n * 10, `asks ${asks}`);
});

test('loading gate: while the firmware stages are under pressure no new load starts, and the queue keeps its order', () => {
  const g = createLoadingGate(rules);
  assert.deepEqual(g.ask('a', 0), { admit: true });
  // Held: b waits although a slot is free; a (already loading) keeps its slot.
  assert.equal(waitOf(g.ask('b', 1, true)).position, 1);
  assert.deepEqual(g.ask('a', 2, true), { admit: true });
  assert.equal(waitOf(g.ask('c', 3, true)).position, 2);
  // The pressure is gone: b (first) and then c take the free slot(s) in order.
  assert.equal(waitOf(g.ask('c', 4)).position, 2);
  assert.deepEqual(g.ask('b', 5), { admit: true });
  assert.equal(waitOf(g.ask('c', 6)).position, 1);
});

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createLeaseWriter } from './lease-writer.js';
import { createMemoryLeaseStore, type Lease, type LeasePutResult, type LeaseStore } from './lease-store.js';

const lease = (n: number, mac = `52:54:00:00:00:${n.toString(16).padStart(2, '0')}`): Lease => ({
  ip: `10.0.0.${n}`,
  mac,
  subnet: '10.0.0.0/24',
  expiresAt: 10_000_000,
  state: 'bound',
});

/** A store whose commits wait until the test lets them finish: `commits` lists each batch; `finish()` makes the oldest durable. */
function gatedStore(fail?: (batch: number) => boolean) {
  const inner = createMemoryLeaseStore();
  const commits: Lease[][] = [];
  const gates: Array<() => void> = [];
  const store: LeaseStore = {
    ...inner,
    async putMany(leases, now) {
      const batch = commits.push(leases.map((l) => ({ ...l }))) - 1;
      await new Promise<void>((r) => gates.push(r));
      if (fail?.(batch)) throw new Error('disk full');
      return inner.putMany(leases, now);
    },
  };
  const tick = () => new Promise((r) => setImmediate(r));
  return {
    store,
    inner,
    commits,
    async finish() {
      while (gates.length === 0) await tick();
      gates.shift()!();
      await tick();
    },
  };
}

test('group commit: writes that arrive while a commit runs wait for it and go together in the next one', async () => {
  const g = gatedStore();
  const w = createLeaseWriter(g.store, () => 0, 256);
  const results: Array<Promise<LeasePutResult>> = [];
  results.push(w.put(lease(1)), w.put(lease(2))); // the same turn: one batch
  await new Promise((r) => setImmediate(r));
  for (let n = 3; n <= 10; n++) results.push(w.put(lease(n))); // during the first commit
  await g.finish();
  await g.finish();
  assert.deepEqual(await Promise.all(results), Array(10).fill('ok'));
  assert.deepEqual(
    g.commits.map((b) => b.map((l) => l.ip.split('.')[3]).join(',')),
    ['1,2', '3,4,5,6,7,8,9,10'],
    'two transactions for ten writes',
  );
  await w.drain();
});

test('group commit: no put resolves before its transaction is durable', async () => {
  const g = gatedStore();
  const w = createLeaseWriter(g.store, () => 0, 256);
  let resolved = false;
  void w.put(lease(1)).then(() => (resolved = true));
  for (let i = 0; i < 20; i++) await new Promise((r) => setImmediate(r));
  assert.equal(g.commits.length, 1, 'the commit started');
  assert.equal(resolved, false, 'the ACK would wait: the commit has not finished');
  assert.equal((await g.inner.list()).length, 0);
  await g.finish();
  await w.drain();
  assert.equal(resolved, true);
  assert.equal((await g.inner.list()).length, 1);
});

test('group commit: at most maxBatch writes per transaction, in arrival order', async () => {
  const g = gatedStore();
  const w = createLeaseWriter(g.store, () => 0, 4);
  const all = Array.from({ length: 10 }, (_, i) => w.put(lease(i + 1)));
  for (let i = 0; i < 3; i++) await g.finish();
  await Promise.all(all);
  assert.deepEqual(
    g.commits.map((b) => b.length),
    [4, 4, 2],
  );
  assert.deepEqual(
    g.commits.flat().map((l) => l.ip),
    Array.from({ length: 10 }, (_, i) => `10.0.0.${i + 1}`),
  );
});

test('group commit: a failed transaction fails only its own writes (no ACK for them); the next batch commits', async () => {
  const g = gatedStore((batch) => batch === 0);
  const w = createLeaseWriter(g.store, () => 0, 256);
  // Settled at once into their outcome, so the rejection is observed when it happens.
  const first = [w.put(lease(1)), w.put(lease(2))].map((p) => p.then(String, (e: Error) => e.message));
  await new Promise((r) => setImmediate(r));
  const second = w.put(lease(3));
  await g.finish();
  await g.finish();
  assert.deepEqual(await Promise.all(first), ['disk full', 'disk full']);
  assert.equal(await second, 'ok');
  assert.deepEqual(
    (await g.inner.list()).map((l) => l.ip),
    ['10.0.0.3'],
  );
});

test('group commit: a conflict in a batch is that write’s answer, the others in the batch commit', async () => {
  const store = createMemoryLeaseStore();
  const w = createLeaseWriter(store, () => 0, 256);
  const [a, b, c] = await Promise.all([
    w.put(lease(1, '52:54:00:00:00:aa')),
    w.put(lease(1, '52:54:00:00:00:bb')), // the same address for another MAC in the same transaction
    w.put(lease(2)),
  ]);
  assert.deepEqual([a, b, c], ['ok', 'conflict', 'ok']);
  assert.equal((await store.getByIp('10.0.0.1'))?.mac, '52:54:00:00:00:aa');
});

test('group commit: drain waits for every queued write', async () => {
  const g = gatedStore();
  const w = createLeaseWriter(g.store, () => 0, 2);
  const puts = Array.from({ length: 5 }, (_, i) => w.put(lease(i + 1)));
  let drained = false;
  const d = w.drain().then(() => (drained = true));
  await g.finish();
  assert.equal(drained, false);
  await g.finish();
  await g.finish();
  await d;
  await Promise.all(puts);
  assert.equal((await g.inner.list()).length, 5);
});

test('commit interval: under a steady stream a commit starts at most every intervalMs; after a quiet spell at once', async () => {
  const starts: number[] = [];
  const inner = createMemoryLeaseStore();
  const store: LeaseStore = {
    ...inner,
    async putMany(leases, now) {
      starts.push(performance.now());
      return inner.putMany(leases, now);
    },
  };
  const w = createLeaseWriter(store, () => 0, 256, 30);
  const t0 = performance.now();
  await w.put(lease(1)); // idle: commits at once
  assert.ok(starts[0]! - t0 < 25, `the first write after a quiet spell waited ${starts[0]! - t0} ms`);
  // Writes keep coming: one every 5 ms for 100 ms, each waiting for its commit in the background.
  const pending: Array<Promise<LeasePutResult>> = [];
  for (let n = 2; n <= 21; n++) {
    pending.push(w.put(lease(n)));
    await new Promise((r) => setTimeout(r, 5));
  }
  assert.deepEqual(new Set(await Promise.all(pending)), new Set(['ok']));
  await w.drain();
  const gaps = starts.slice(1).map((s, i) => s - starts[i]!);
  // setTimeout may fire a millisecond early on some platforms; 28 ms leaves room for that and nothing else.
  assert.ok(
    gaps.every((g) => g >= 28),
    `commit starts closer than the 30 ms interval: ${gaps.map((g) => g.toFixed(1)).join(', ')}`,
  );
  assert.ok(starts.length < 21, `${starts.length} commits for 21 writes: the interval did not group them`);
  assert.equal((await inner.list()).length, 21);
});

test('commit interval: a full batch does not wait for the interval', async () => {
  const sizes: number[] = [];
  const inner = createMemoryLeaseStore();
  const store: LeaseStore = {
    ...inner,
    async putMany(leases, now) {
      sizes.push(leases.length);
      return inner.putMany(leases, now);
    },
  };
  const w = createLeaseWriter(store, () => 0, 4, 10_000);
  const t0 = performance.now();
  const all = await Promise.all(Array.from({ length: 8 }, (_, n) => w.put(lease(n + 1))));
  assert.deepEqual(new Set(all), new Set(['ok']));
  assert.ok(performance.now() - t0 < 5_000, 'a full batch waited for the 10 s interval');
  assert.deepEqual(sizes, [4, 4]);
});

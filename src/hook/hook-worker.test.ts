// The worker against a real (in-memory SQLite) store with targets that record calls, on an injected clock.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { fencedWrite } from '../cluster/elector.js';
import { takeTerm } from '../cluster/sql-cluster-store.js';
import { appendEvent } from '../event/event-log.js';
import { openSqlite } from '../store/database.js';
import { migrateToLatest } from '../store/migrate.js';
import type { AttemptResult } from './hook.js';
import { createHookWorker, type HookTarget } from './hook-worker.js';
import { listDeliveries, pruneDeliveries } from './sql-hook-store.js';

async function bed(results: Array<AttemptResult | 'hang'> = []) {
  const store = openSqlite(':memory:');
  await migrateToLatest(store.db);
  let t = Date.parse('2026-12-06T00:00:00Z');
  const clock = { now: () => new Date(t), advance: (ms: number) => (t += ms) };
  const calls: Array<{ deliveryId: string; seq: number; body: string }> = [];
  const target: HookTarget = {
    id: 'h1',
    name: 'one',
    filter: { kinds: ['host.'], hostId: null },
    enabled: true,
    leaseMs: 10_000,
    deliver: (a) => {
      calls.push({ deliveryId: a.deliveryId, seq: a.event.seq, body: a.body });
      const r = results.shift() ?? { ok: true, status: 200 };
      return r === 'hang' ? new Promise(() => {}) : Promise.resolve(r);
    },
  };
  const outcomes: string[] = [];
  const worker = () =>
    createHookWorker({
      db: store.db,
      targets: async () => [target],
      retry: { attempts: 3, baseSeconds: 10, maxSeconds: 60 },
      concurrency: 4,
      history: { days: 7, maxPerHook: 1000 },
      now: clock.now,
      random: () => 0,
      count: (o) => outcomes.push(o),
    });
  const append = (kind: string, subject: string) =>
    appendEvent(store.db, { actor: 't', kind, subject, message: subject, hostId: 'x' }, clock.now().toISOString());
  return { store, clock, calls, target, outcomes, worker, append };
}

test('a new hook starts at the newest event; matching events are queued and sent once, with their delivery id', async () => {
  const b = await bed();
  await b.append('host.state_changed', 'before');
  const w = b.worker();
  await w.tick(); // cursor placed after "before"
  await b.append('host.state_changed', 'a');
  await b.append('power.failed', 'not wanted');
  await b.append('host.created', 'b');
  await w.tick();
  await w.settle();
  await w.tick();
  await w.settle();
  assert.deepEqual(
    b.calls.map((c) => (JSON.parse(c.body) as { event: { subject: string } }).event.subject),
    ['a', 'b'],
  );
  const ds = await listDeliveries(b.store.db, { hookId: 'h1', limit: 10 });
  assert.deepEqual(
    ds.map((d) => [d.status, d.attempts]),
    [
      ['delivered', 1],
      ['delivered', 1],
    ],
  );
  assert.deepEqual(new Set(b.calls.map((c) => c.deliveryId)), new Set(ds.map((d) => d.id)));
  assert.deepEqual(b.outcomes, ['delivered', 'delivered']);
  await b.store.close();
});

test('a failing receiver is retried on the back-off schedule with the same delivery id, then dead-lettered', async () => {
  const fail: AttemptResult = { ok: false, status: 503, error: 'answered HTTP 503' };
  const b = await bed([fail, fail, fail]);
  const w = b.worker();
  await w.tick();
  await b.append('host.state_changed', 'a');
  await w.tick();
  await w.settle();
  assert.equal(b.calls.length, 1);
  let [d] = await listDeliveries(b.store.db, { hookId: 'h1', limit: 1 });
  assert.equal(d.status, 'pending');
  assert.equal(d.lastError, 'answered HTTP 503');
  assert.equal(d.nextAt, '2026-12-06T00:00:05.000Z', 'attempt 1 failed: base 10 s with jitter 0 → 5 s');
  b.clock.advance(4_999);
  await w.tick();
  await w.settle();
  assert.equal(b.calls.length, 1, 'not before it is due');
  b.clock.advance(1);
  await w.tick();
  await w.settle();
  assert.equal(b.calls.length, 2);
  b.clock.advance(10_000); // attempt 2 failed: 20 s step → 10 s
  await w.tick();
  await w.settle();
  assert.equal(b.calls.length, 3);
  [d] = await listDeliveries(b.store.db, { hookId: 'h1', limit: 1 });
  assert.deepEqual([d.status, d.attempts, d.lastStatus], ['dead', 3, 503]);
  assert.equal(new Set(b.calls.map((c) => c.deliveryId)).size, 1, 'one delivery id on every attempt');
  assert.deepEqual(b.outcomes, ['failed', 'failed', 'dead']);
  b.clock.advance(3_600_000);
  await w.tick();
  await w.settle();
  assert.equal(b.calls.length, 3, 'a dead delivery is not sent again');
  await b.store.close();
});

test('a controller that dies mid-delivery: its claim runs out and another worker sends the same delivery id', async () => {
  const b = await bed(['hang']);
  const first = b.worker();
  await first.tick();
  await b.append('host.state_changed', 'a');
  await first.tick(); // claimed; the attempt never ends (the process "died")
  for (let i = 0; i < 100 && b.calls.length === 0; i++) await new Promise((r) => setImmediate(r));
  assert.equal(b.calls.length, 1);
  const second = b.worker(); // the restarted controller
  await second.tick();
  await second.settle();
  assert.equal(b.calls.length, 1, 'not while the claim holds');
  b.clock.advance(10_000);
  await second.tick();
  await second.settle();
  assert.equal(b.calls.length, 2);
  assert.equal(b.calls[0].deliveryId, b.calls[1].deliveryId);
  const [d] = await listDeliveries(b.store.db, { hookId: 'h1', limit: 1 });
  assert.deepEqual([d.status, d.attempts], ['delivered', 2]);
  await b.store.close();
});

test('a disabled hook does not queue: its cursor skips ahead', async () => {
  const b = await bed();
  const w = b.worker();
  await w.tick();
  b.target.enabled = false;
  await b.append('host.state_changed', 'while off');
  await w.tick();
  b.target.enabled = true;
  await b.append('host.state_changed', 'after');
  await w.tick();
  await w.settle();
  assert.deepEqual(
    b.calls.map((c) => c.seq),
    [2],
  );
  await b.store.close();
});

test('history retention: finished deliveries beyond the count or the age are pruned, pending ones never', async () => {
  const b = await bed([{ ok: false, status: 500, error: 'x' }]);
  const w = b.worker();
  await w.tick();
  for (let i = 0; i < 15; i++) await b.append('host.state_changed', `e${i}`);
  for (let i = 0; i < 5; i++) {
    await w.tick(); // four at a time (concurrency)
    await w.settle();
  }
  // e0 failed once and is pending; e1..e14 delivered.
  assert.equal(await pruneDeliveries(b.store.db, '2000-01-01T00:00:00Z', 10), 4);
  let ds = await listDeliveries(b.store.db, { hookId: 'h1', limit: 100 });
  assert.equal(ds.length, 11);
  assert.ok(ds.some((d) => d.status === 'pending'));
  assert.equal(await pruneDeliveries(b.store.db, '2100-01-01T00:00:00Z', 10), 10);
  ds = await listDeliveries(b.store.db, { hookId: 'h1', limit: 100 });
  assert.deepEqual(
    ds.map((d) => d.status),
    ['pending'],
  );
  await b.store.close();
});

test('a pending delivery of a hook that is gone (an executable hook removed from the config) is dead-lettered, not sent', async () => {
  const b = await bed([{ ok: false, status: 500, error: 'answered HTTP 500' }]);
  const w = b.worker();
  await w.tick();
  await b.append('host.state_changed', 'a');
  await w.tick();
  await w.settle();
  const gone = createHookWorkerWithout(b);
  b.clock.advance(60_000);
  await gone.tick();
  await gone.settle();
  const [d] = await listDeliveries(b.store.db, { hookId: 'h1', limit: 1 });
  assert.deepEqual([d.status, d.lastError, b.calls.length], ['dead', 'the hook no longer exists', 1]);
  await b.store.close();
});

/** A worker whose target list no longer has the bed's hook. */
function createHookWorkerWithout(b: Awaited<ReturnType<typeof bed>>) {
  return createHookWorker({
    db: b.store.db,
    targets: async () => [],
    retry: { attempts: 3, baseSeconds: 10, maxSeconds: 60 },
    concurrency: 4,
    history: { days: 7, maxPerHook: 1000 },
    now: b.clock.now,
  });
}

test('a holder replaced while it was paused: its next write is refused (fenced by the term), nothing more is queued or sent, and its run ends', async () => {
  const b = await bed();
  const at = () => b.clock.now().toISOString();
  const term = await takeTerm(b.store.db, 'hook-delivery', 'a', at());
  const w = b.worker();
  const abort = new AbortController();
  const running = w.run({
    intervalMs: 5,
    signal: abort.signal,
    write: (fn) => fencedWrite(b.store.db, 'hook-delivery', 'a', term, fn),
  });
  const until = async (done: () => boolean | Promise<boolean>) => {
    for (let i = 0; i < 400 && !(await done()); i++) await new Promise((r) => setTimeout(r, 5));
  };
  await new Promise((r) => setTimeout(r, 30)); // the first ticks place the cursor
  await b.append('host.state_changed', 'a');
  await until(() => b.calls.length === 1);
  assert.equal(b.calls.length, 1, 'sent while the role is held');
  // Another member takes hook-delivery with the next term (this one was "paused" meanwhile).
  assert.equal(await takeTerm(b.store.db, 'hook-delivery', 'b', at()), term + 1);
  await b.append('host.state_changed', 'c');
  let ended = false;
  void running.then(() => (ended = true));
  await until(() => ended);
  assert.equal(ended, true, 'the run ends at its first refused write');
  assert.equal(b.calls.length, 1, 'nothing sent after the take-over');
  assert.deepEqual(
    (await listDeliveries(b.store.db, { hookId: 'h1', limit: 10 })).map((d) => d.status),
    ['delivered'],
    'the new event was not queued by the replaced holder',
  );
  abort.abort();
  await running;
  await b.store.close();
});

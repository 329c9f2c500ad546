import assert from 'node:assert/strict';
import { test } from 'node:test';
import { openSqlite } from '../store/database.js';
import { migrateToLatest } from '../store/migrate.js';
import { storeAdmissionQuota, storeFailureCounter } from './shared-limits.js';

// The store code is the same SQL on both engines (the PostgreSQL run is src/cluster/cluster-limits-postgres.int.test.ts);
// here two "controllers" share one SQLite store on a fake clock.
async function bed() {
  const store = openSqlite(':memory:');
  await migrateToLatest(store.db);
  const clock = { t: Date.parse('2026-12-06T12:00:10.000Z') };
  const count = async () =>
    (await store.db.selectFrom('rate_counters').selectAll().orderBy('window_start').execute()).map((r) => [
      r.limiter,
      r.key,
      r.window_start,
      Number(r.n),
    ]);
  return { store, clock, count };
}

test('admission quota: two controllers claim blocks from one counter; the limit holds in total, a new minute starts afresh', async () => {
  const b = await bed();
  const make = () =>
    storeAdmissionQuota({ db: b.store.db, limiter: 'discovery', limit: 5, block: 2, now: () => b.clock.t });
  const [qa, qb] = [make(), make()];
  const net = '10.105.0.0/24';
  // Nothing claimed yet: the first take on each is "not now" while its claim runs.
  assert.deepEqual(qa.take(net), { ok: false, pending: true, retryInSeconds: 1 });
  assert.deepEqual(qb.take(net), { ok: false, pending: true, retryInSeconds: 1 });
  await Promise.all([qa.settled(net), qb.settled(net)]);
  let admitted = 0;
  let refused = 0;
  for (let i = 0; i < 20; i++) {
    for (const q of [qa, qb]) {
      const r = q.take(net);
      if (r.ok) admitted++;
      else if (!r.pending) refused++;
      await q.settled(net);
    }
  }
  assert.equal(admitted, 5, 'five in total, not five per controller');
  assert.ok(refused > 0);
  const full = qa.take(net);
  assert.deepEqual(full, { ok: false, pending: false, retryInSeconds: 50 }, 'full: wait for the next minute');
  assert.deepEqual(await b.count(), [['discovery', net, '2026-12-06T12:00:00.000Z', 5]]);
  // Another subnet has its own bound.
  assert.equal(qa.take('10.106.0.0/24').ok, false);
  await qa.settled('10.106.0.0/24');
  assert.equal(qa.take('10.106.0.0/24').ok, true);
  // The next minute starts afresh; windows older than ten minutes are pruned by whoever claims.
  b.clock.t += 11 * 60_000;
  assert.equal(qb.take(net).ok, false);
  await qb.settled(net);
  assert.equal(qb.take(net).ok, true);
  await new Promise((r) => setTimeout(r, 50)); // the prune runs beside the claim
  assert.deepEqual(
    (await b.count()).map((r) => r[2]),
    ['2026-12-06T12:11:00.000Z'],
  );
  await b.store.close();
});

test('failure counter: failures through either controller count toward one limit per source; blocked until the minute ends', async () => {
  const b = await bed();
  const make = () =>
    storeFailureCounter({ db: b.store.db, limiter: 'node-credential', limit: 3, now: () => b.clock.t });
  const [fa, fb] = [make(), make()];
  await fa.fail('10.105.0.9');
  await fb.fail('10.105.0.9');
  assert.equal(await fa.blocked('10.105.0.9'), 0);
  await fa.fail('10.105.0.9');
  assert.equal(await fb.blocked('10.105.0.9'), 50, 'blocked on the other controller too, until the minute ends');
  assert.equal(await fb.blocked('10.105.0.10'), 0, 'another source is not');
  b.clock.t += 50_000;
  assert.equal(await fa.blocked('10.105.0.9'), 0);
  await b.store.close();
});

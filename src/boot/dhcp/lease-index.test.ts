import { test } from 'node:test';
import assert from 'node:assert/strict';
import {
  createBrokenLeaseStore,
  createMemoryLeaseStore,
  type Lease,
  type LeaseStore,
  type LeaseWatcher,
} from './lease-store.js';
import { createLeaseIndex } from './lease-index.js';
import { leaseStoreConformance } from './lease-store.conformance.js';

const lease = (ip: string, mac: string, expiresAt: number): Lease => ({
  ip,
  mac,
  subnet: '10.0.0.0/24',
  expiresAt,
  state: 'bound',
  hostname: undefined,
});

leaseStoreConformance('indexed memory', async () => ({
  store: createLeaseIndex(createMemoryLeaseStore()),
  close: async () => {},
}));

test('two controllers on one store: a stale index loses the write and re-reads the address', async () => {
  const shared = createMemoryLeaseStore();
  const a = createLeaseIndex(shared);
  const b = createLeaseIndex(shared);
  assert.equal(await b.getByIp('10.0.0.10'), undefined);
  assert.deepEqual(await a.putMany([lease('10.0.0.10', 'aa:00:00:00:00:01', 2000)], 1000), ['ok']);
  assert.equal(await b.getByIp('10.0.0.10'), undefined, "b has not seen a's write");
  assert.deepEqual(await b.putMany([lease('10.0.0.10', 'aa:00:00:00:00:02', 2000)], 1000), ['conflict']);
  assert.equal((await b.getByIp('10.0.0.10'))?.mac, 'aa:00:00:00:00:01');
});

test('a store that is down fails reads until it comes back', async () => {
  const broken = createBrokenLeaseStore();
  const live = createMemoryLeaseStore();
  await live.putMany([lease('10.0.0.10', 'aa:00:00:00:00:01', 2000)], 1000);
  let down = true;
  const idx = createLeaseIndex({ ...live, list: (s) => (down ? broken.list(s) : live.list(s)) });
  await assert.rejects(idx.getByIp('10.0.0.10'));
  down = false;
  assert.equal((await idx.getByIp('10.0.0.10'))?.mac, 'aa:00:00:00:00:01');
  assert.equal((await idx.getByMac('aa:00:00:00:00:01', '10.0.0.0/24'))?.ip, '10.0.0.10');
});

/** A memory store that hands its watcher to the test, as the PostgreSQL store's LISTEN would hear another controller. */
function watchedStore() {
  const base = createMemoryLeaseStore();
  const w: { watcher?: LeaseWatcher; stopped: boolean; lists: number } = { stopped: false, lists: 0 };
  const store: LeaseStore = {
    ...base,
    list: (s) => {
      w.lists++;
      return base.list(s);
    },
    watch(watcher) {
      w.watcher = watcher;
      return async () => {
        w.stopped = true;
      };
    },
  };
  return { base, store, w };
}

test("another controller's writes heard through watch: the index follows them; an older binding of a MAC does not undo a later one", async () => {
  const { base, store, w } = watchedStore();
  const idx = createLeaseIndex(store);
  await idx.list();
  assert.equal(await idx.getByMac('aa:00:00:00:00:01', '10.0.0.0/24'), undefined);
  // Another controller bound the MAC to .10 (its commit reached the table and the notice this one).
  await base.putMany([lease('10.0.0.10', 'aa:00:00:00:00:01', 2000)], 1000);
  w.watcher!.leases([lease('10.0.0.10', 'aa:00:00:00:00:01', 2000)]);
  assert.equal((idx.peekByMac!('aa:00:00:00:00:01', '10.0.0.0/24') as Lease | undefined)?.ip, '10.0.0.10');
  assert.equal((await idx.getByIp('10.0.0.10'))?.mac, 'aa:00:00:00:00:01', 'the address is known taken');
  // This controller binds the MAC to .11 by a later request; a late notice of the .10 binding changes nothing.
  assert.deepEqual(await idx.putMany([lease('10.0.0.11', 'aa:00:00:00:00:01', 3000)], 1500), ['ok']);
  w.watcher!.leases([lease('10.0.0.10', 'aa:00:00:00:00:01', 2000)]);
  assert.equal((await idx.getByMac('aa:00:00:00:00:01', '10.0.0.0/24'))?.ip, '10.0.0.11');
  assert.equal(await idx.getByIp('10.0.0.10'), undefined, 'the older address stays free');
  // A later binding elsewhere moves it, and frees .11 here.
  w.watcher!.leases([lease('10.0.0.12', 'aa:00:00:00:00:01', 4000)]);
  assert.equal((await idx.getByMac('aa:00:00:00:00:01', '10.0.0.0/24'))?.ip, '10.0.0.12');
  assert.equal(await idx.getByIp('10.0.0.11'), undefined);
  await idx.close();
  assert.ok(w.stopped, 'close stops the watch');
});

test('a resync reads the table again: what was missed shows, what is gone goes; notices during the read are kept', async () => {
  const { base, store, w } = watchedStore();
  const idx = createLeaseIndex(store);
  await idx.list();
  await idx.getByIp('10.0.0.1');
  await idx.putMany([lease('10.0.0.20', 'aa:00:00:00:00:02', 2000)], 1000);
  // Missed while the connection was down: .20 expired and was taken by another MAC, .21 bound elsewhere.
  base.leases.clear();
  await base.putMany(
    [lease('10.0.0.20', 'aa:00:00:00:00:03', 5000), lease('10.0.0.21', 'aa:00:00:00:00:04', 5000)],
    3000,
  );
  const before = w.lists;
  w.watcher!.resync();
  // A notice while the read is in flight is applied over it.
  w.watcher!.leases([lease('10.0.0.22', 'aa:00:00:00:00:05', 6000)]);
  for (let i = 0; i < 50 && w.lists === before; i++) await new Promise((r) => setImmediate(r));
  await new Promise((r) => setImmediate(r));
  assert.equal(w.lists, before + 1, 'the table was read once more');
  assert.equal((await idx.getByIp('10.0.0.20'))?.mac, 'aa:00:00:00:00:03');
  assert.equal((await idx.getByIp('10.0.0.21'))?.mac, 'aa:00:00:00:00:04');
  assert.equal((await idx.getByIp('10.0.0.22'))?.mac, 'aa:00:00:00:00:05');
  assert.equal(await idx.getByMac('aa:00:00:00:00:02', '10.0.0.0/24'), undefined, 'the missed takeover shows');
});

test('with a watch the table is read once at start, after the listener connects; a lookup before it reads again once it does', async () => {
  const { store, w } = watchedStore();
  const idx = createLeaseIndex(store);
  await new Promise((r) => setImmediate(r));
  assert.equal(w.lists, 0, 'no read before the listener connects');
  w.watcher!.resync();
  await idx.getByIp('10.0.0.1');
  for (let i = 0; i < 10; i++) await new Promise((r) => setImmediate(r));
  assert.equal(w.lists, 1, 'one read at start');

  const early = watchedStore();
  const idx2 = createLeaseIndex(early.store);
  await idx2.getByIp('10.0.0.1'); // a lookup before the listener connected reads the table
  assert.equal(early.w.lists, 1);
  early.w.watcher!.resync(); // what was written between that read and the LISTEN could not be heard: read again
  for (let i = 0; i < 50 && early.w.lists === 1; i++) await new Promise((r) => setImmediate(r));
  assert.equal(early.w.lists, 2);
  for (let i = 0; i < 10; i++) await new Promise((r) => setImmediate(r));
  assert.equal(early.w.lists, 2, 'and no more');
});

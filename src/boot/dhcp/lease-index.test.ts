import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createBrokenLeaseStore, createMemoryLeaseStore, type Lease } from './lease-store.js';
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

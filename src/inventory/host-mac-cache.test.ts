import assert from 'node:assert/strict';
import { test } from 'node:test';
import { openSqlite } from '../store/database.js';
import { migrateToLatest } from '../store/migrate.js';
import type { Mac } from '../net/mac.js';
import { createInventoryService } from './inventory-service.js';
import { createHostMacCache } from './host-mac-cache.js';
import type { Host } from './host.js';

const MAC = '52:54:00:c0:00:01' as Mac;

test('the inventory answers a known MAC from memory and never serves a host older than its last change', async () => {
  const store = openSqlite(':memory:');
  await migrateToLatest(store.db);
  const inv = createInventoryService({ db: store.db, seal: (s) => s, open: (s) => s });
  const ctx = { actor: 'test' };
  assert.equal(await inv.findHostByMac(MAC), null);
  const h = await inv.createHost({ name: 'web1', nics: [{ mac: MAC, name: null, boot: true }] }, ctx);
  const first = await inv.findHostByMac(MAC);
  assert.equal(first?.state, 'new');
  assert.equal(await inv.findHostByMac(MAC), first, 'the second lookup is the same object: from memory');
  assert.ok(Object.isFrozen(first), 'shared entries are frozen');
  await inv.transition(h.id, 'discovering', ctx);
  assert.equal((await inv.findHostByMac(MAC))?.state, 'discovering');
  // A change inside a caller's transaction (deploy commits the host and its deployment together).
  await inv.inTransaction(async (tx) => {
    await tx.transition(h.id, 'ready', ctx);
  });
  assert.equal((await inv.findHostByMac(MAC))?.state, 'ready');
  await inv.updateHost(h.id, { nics: [{ mac: '52:54:00:c0:00:02' as Mac, name: null, boot: true }] }, ctx);
  assert.equal(await inv.findHostByMac(MAC), null, 'a NIC moved away');
  await inv.deleteHost(h.id, ctx);
  assert.equal(await inv.findHostByMac('52:54:00:c0:00:02' as Mac), null);
  await store.close();
});

test('a lookup that overlapped a change does not fill the cache', async () => {
  const cache = createHostMacCache();
  const stale = { id: 'h1', state: 'new' } as Host;
  let release: () => void = () => {};
  const slow = cache.get(MAC, () => new Promise<Host>((r) => (release = () => r(stale))));
  cache.changed();
  release();
  assert.equal(await slow, stale, 'the caller still gets what it read');
  assert.equal(cache.size(), 0);
  const fresh = { id: 'h1', state: 'discovering' } as Host;
  assert.equal(await cache.get(MAC, async () => fresh), fresh);
  assert.equal(cache.size(), 1);
});

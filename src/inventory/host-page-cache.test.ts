import assert from 'node:assert/strict';
import { test } from 'node:test';
import { openSqlite } from '../store/database.js';
import { migrateToLatest } from '../store/migrate.js';
import { normalizeMac } from '../net/mac.js';
import { createInventoryService } from './inventory-service.js';
import { createHostPageCache, type HostPageRow } from './host-page-cache.js';
import { listHostDocs } from './sql-host-store.js';
import type { HostFilter } from './host.js';
import { createTestController } from '../../test/support/controller.js';

const ctx = { actor: 'test' };
const mac = (i: number) => normalizeMac(`52:54:00:9a:00:${(i & 255).toString(16).padStart(2, '0')}`);
const row = (name: string, doc = '{}'): HostPageRow => ({ id: name, name, state: 'new', doc });

test('the inventory answers a repeated host list page from memory and never one older than the last change', async () => {
  const store = openSqlite(':memory:');
  await migrateToLatest(store.db);
  const inv = createInventoryService({ db: store.db, seal: (s) => s, open: (s) => s });
  for (let i = 0; i < 6; i++)
    await inv.createHost(
      { name: `web-${i}`, nics: [{ mac: mac(i), name: null, boot: true }], tags: ['rack1'], labels: { rack: 'r1' } },
      ctx,
    );
  // Every page the list would read, against the store read directly (no cache), after each kind of change.
  const filters: HostFilter[] = [
    { limit: 4 },
    { limit: 4, after: 'web-3' },
    { tag: 'rack1', limit: 101 },
    { label: { key: 'rack', value: 'r1' }, limit: 101 },
    { state: 'ready', limit: 101 },
    { namePrefix: 'web-', limit: 3 },
    { mac: mac(2), limit: 101 },
  ];
  const check = async (what: string) => {
    for (const f of filters) {
      const first = await inv.listHostDocs(f);
      assert.deepEqual([...first], await listHostDocs(store.db, f), `${what}: ${JSON.stringify(f)}`);
      assert.equal(
        await inv.listHostDocs(f),
        first,
        `${what}: ${JSON.stringify(f)} again is the same page, from memory`,
      );
    }
  };
  await check('created');
  assert.ok(Object.isFrozen(await inv.listHostDocs({ limit: 4 })), 'shared pages are frozen');
  await inv.updateHost('web-1', { tags: ['rack2'], labels: { rack: 'r2' } }, ctx);
  await check('tags and labels edited');
  await inv.updateHost('web-2', { name: 'web-9' }, ctx);
  await check('renamed');
  await inv.transition('web-0', 'ready', ctx);
  await check('state changed');
  await inv.inTransaction(async (tx) => {
    await tx.transition('web-3', 'ready', ctx);
  });
  await check("state changed in a caller's transaction");
  await inv.updateHost('web-9', { nics: [{ mac: mac(40), name: null, boot: true }] }, ctx);
  await check('NIC moved');
  await inv.deleteHost('web-4', ctx);
  await check('deleted');
  await inv.createHost({ name: 'web-00', nics: [], tags: ['rack1'] }, ctx);
  await check('created between pages');
  const { hits, misses } = inv.hostPages.stats();
  assert.ok(hits >= filters.length * 8 && misses >= filters.length * 8, `hits ${hits}, misses ${misses}`);
  await store.close();
});

test('a host list page load that overlapped a change does not fill the cache', async () => {
  const cache = createHostPageCache();
  let release: () => void = () => {};
  const stale = [row('a')];
  const slow = cache.get({}, () => new Promise<HostPageRow[]>((r) => (release = () => r(stale))));
  cache.changed();
  release();
  assert.deepEqual(await slow, stale, 'the caller still gets what it read');
  assert.equal(cache.stats().pages, 0);
  const fresh = [row('a', '{"v":2}')];
  assert.deepEqual(await cache.get({}, async () => fresh), fresh);
  assert.equal(cache.stats().pages, 1);
});

test('concurrent misses of one host list page share one load; a miss after a change loads again', async () => {
  const cache = createHostPageCache();
  let loads = 0;
  let release: () => void = () => {};
  const load = () => {
    loads++;
    return new Promise<HostPageRow[]>((r) => (release = () => r([row('a')])));
  };
  const first = cache.get({ tag: 't' }, load);
  const second = cache.get({ tag: 't' }, load);
  release();
  assert.equal(await first, await second);
  assert.equal(loads, 1);
  cache.changed();
  const third = cache.get({ tag: 't' }, load);
  release();
  await third;
  assert.equal(loads, 2);
});

test('the host list page cache keeps nothing while not live, and stays within its size', async () => {
  const cache = createHostPageCache({ live: false, maxChars: 8000 });
  let loads = 0;
  const load = async () => {
    loads++;
    return [row('a', 'x'.repeat(900))];
  };
  await cache.get({}, load);
  await cache.get({}, load);
  assert.equal(loads, 2, 'not live (PostgreSQL without its listener): every page is read');
  assert.equal(cache.stats().pages, 0);
  cache.setLive(true);
  for (let i = 0; i < 20; i++) await cache.get({ after: `h${i}` }, load);
  assert.ok(cache.stats().chars <= 8000, `${cache.stats().chars} chars kept`);
  assert.equal(cache.stats().pages, 8);
  await cache.get({ after: 'h19' }, load);
  assert.equal(loads, 22, 'the newest page is still held');
  await cache.get({ after: 'h0' }, load);
  assert.equal(loads, 23, 'the oldest went first');
  // A filter that differs in any field is another page (a label value holding the separator included).
  await cache.get({ label: { key: 'a', value: 'b","c' } }, load);
  await cache.get({ label: { key: 'a","b', value: 'c' } }, load);
  assert.equal(loads, 25);
});

test('GET /api/v1/hosts shows an edit made through the API at once, and still asks for a token', async () => {
  const c = await createTestController();
  try {
    const auth = { authorization: c.bearer.admin };
    for (const name of ['n1', 'n2'])
      assert.equal(
        (await c.app.inject({ method: 'POST', url: '/api/v1/hosts', headers: auth, payload: { name, tags: ['t'] } }))
          .statusCode,
        201,
      );
    const list = async () => {
      const r = await c.app.inject({ method: 'GET', url: '/api/v1/hosts?tag=t', headers: auth });
      assert.equal(r.statusCode, 200);
      return (JSON.parse(r.body) as { items: Array<{ name: string; tags: string[] }> }).items;
    };
    assert.deepEqual(
      (await list()).map((h) => h.name),
      ['n1', 'n2'],
    );
    await list();
    const patch = await c.app.inject({
      method: 'PATCH',
      url: '/api/v1/hosts/n1',
      headers: auth,
      payload: { tags: ['other'] },
    });
    assert.equal(patch.statusCode, 200, patch.body);
    assert.deepEqual(
      (await list()).map((h) => h.name),
      ['n2'],
    );
    const anonymous = await c.app.inject({ method: 'GET', url: '/api/v1/hosts?tag=t' });
    assert.equal(anonymous.statusCode, 401);
  } finally {
    await c.close();
  }
});

test('a full host list page cache drops the oldest page not used since it was kept (a used one gets a second chance)', async () => {
  const cache = createHostPageCache({ maxChars: 8000 });
  const loaded: string[] = [];
  const page = (after: string) =>
    cache.get({ after }, async () => {
      loaded.push(after);
      return [row('a', 'x'.repeat(900))];
    });
  for (let i = 0; i < 8; i++) await page(`h${i}`);
  await page('h0');
  assert.equal(loaded.length, 8, 'h0 from memory');
  await page('h8');
  await page('h0');
  await page('h1');
  assert.deepEqual(loaded.slice(8), ['h8', 'h1'], 'h0 was used, so h1 (the oldest unused) made room for h8');
  await page('h2');
  assert.deepEqual(loaded.slice(10), ['h2'], 'the next oldest unused (h2) made room for h1');
  assert.equal(cache.stats().pages, 8);
});

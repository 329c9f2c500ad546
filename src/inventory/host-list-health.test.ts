// A host list page from memory still carries each deployed host's health as of the request: health changes
// with time and heartbeats, not with host writes, so the page cache does not see it (docs/inventory.md).
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { buildApp, domain } from '../api/build-app.js';
import { openSqlite } from '../store/database.js';
import { migrateToLatest } from '../store/migrate.js';
import { createInventoryService } from './inventory-service.js';
import { hostRoutes } from './routes.js';

test('a repeated host list page shows the health of the moment, and the same bytes while it holds', async () => {
  const store = openSqlite(':memory:');
  await migrateToLatest(store.db);
  const inventory = createInventoryService({ db: store.db, seal: (s) => s, open: (s) => s });
  const ctx = { actor: 'test' };
  const a = await inventory.createHost({ name: 'h-a', nics: [], state: 'deployed' }, ctx);
  await inventory.createHost({ name: 'h-b', nics: [], state: 'ready' }, ctx);
  const c = await inventory.createHost({ name: 'h-c', nics: [], state: 'deployed' }, ctx);
  const health = new Map<string, 'ok' | 'late' | 'unreachable'>();
  const app = await buildApp({
    auth: { token: async () => ({ kind: 'token', id: 't', name: 't', role: 'viewer' }) },
    plugins: [domain(hostRoutes, { inventory, healthOf: (id: string) => health.get(id) ?? null })],
  });
  const page = async (q = 'limit=2') => {
    const r = await app.inject({ method: 'GET', url: `/api/v1/hosts?${q}`, headers: { authorization: 'Bearer x' } });
    assert.equal(r.statusCode, 200, r.body);
    const body = r.json<{ items: Array<{ name: string; health: string | null }>; next: string | null }>();
    return { raw: r.body, healths: body.items.map((h) => [h.name, h.health]), next: body.next };
  };
  try {
    const first = await page();
    assert.deepEqual(first.healths, [
      ['h-a', 'never'],
      ['h-b', null],
    ]);
    assert.ok(first.next);
    assert.equal((await page()).raw, first.raw, 'unchanged health: the same reply');
    health.set(a.id, 'ok');
    assert.deepEqual((await page()).healths, [
      ['h-a', 'ok'],
      ['h-b', null],
    ]);
    health.set(a.id, 'late');
    health.set(c.id, 'unreachable');
    assert.deepEqual((await page()).healths, [
      ['h-a', 'late'],
      ['h-b', null],
    ]);
    assert.deepEqual((await page(`limit=2&after=${first.next}`)).healths, [['h-c', 'unreachable']]);
    health.delete(a.id);
    assert.equal((await page()).raw, first.raw, 'back to never: the first reply again');
  } finally {
    await app.close();
    await store.close();
  }
});

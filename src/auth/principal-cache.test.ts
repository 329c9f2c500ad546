import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { createTestController, type TestController } from '../../test/support/controller.js';
import type { Principal } from '../api/role.js';
import { openSqlite, type OpenDatabase } from '../store/database.js';
import { migrateToLatest } from '../store/migrate.js';
import { createPrincipalCache, type CachedPrincipal } from './principal-cache.js';

const viewer: Principal = { kind: 'token', id: 't1', name: 'ci', role: 'viewer' };

describe('principal cache', () => {
  // Each case: what is put at t=0 (lastUsed 0 unless given), what happens, the time of the get, and whether it hits.
  const cases: Array<{
    name: string;
    value?: Partial<CachedPrincipal>;
    between?: (c: ReturnType<typeof createPrincipalCache>) => void;
    at: number;
    hit: boolean;
  }> = [
    { name: 'a fresh entry is served', at: 1_000, hit: true },
    { name: 'not at the age bound', at: 30_000, hit: false },
    { name: 'not at the token’s expiry', value: { expiresAtMs: 5_000 }, at: 5_000, hit: false },
    { name: 'before the token’s expiry', value: { expiresAtMs: 5_000 }, at: 4_999, hit: true },
    { name: 'not once last_used_at is due (a minute old)', value: { lastUsedMs: -40_000 }, at: 20_001, hit: false },
    { name: 'not when last_used_at was never written', value: { lastUsedMs: null }, at: 1, hit: false },
    { name: 'not after a change', between: (c) => c.changed(), at: 1, hit: false },
    {
      name: 'not after going offline and back',
      between: (c) => (c.setLive(false), c.setLive(true)),
      at: 1,
      hit: false,
    },
  ];
  for (const k of cases) {
    it(k.name, () => {
      let t = 0;
      const c = createPrincipalCache({ now: () => t });
      c.put('h', c.begin(), { principal: viewer, expiresAtMs: null, lastUsedMs: 0, ...k.value });
      k.between?.(c);
      t = k.at;
      assert.equal(c.get('h') !== undefined, k.hit);
    });
  }

  it('a lookup that overlapped a change is not kept', () => {
    const c = createPrincipalCache({ now: () => 0 });
    const since = c.begin();
    c.changed();
    c.put('h', since, { principal: viewer, expiresAtMs: null, lastUsedMs: 0 });
    assert.equal(c.get('h'), undefined);
    assert.equal(c.size(), 0);
  });

  it('keeps and serves nothing while not live (PostgreSQL before its listener connects)', () => {
    const c = createPrincipalCache({ now: () => 0, live: false });
    c.put('h', c.begin(), { principal: viewer, expiresAtMs: null, lastUsedMs: 0 });
    assert.equal(c.size(), 0);
    c.setLive(true);
    c.put('h', c.begin(), { principal: viewer, expiresAtMs: null, lastUsedMs: 0 });
    assert.deepEqual(c.get('h'), viewer);
  });

  it('is bounded: the oldest entry goes first', () => {
    const c = createPrincipalCache({ now: () => 0, maxEntries: 2 });
    for (const h of ['a', 'b', 'c']) c.put(h, c.begin(), { principal: viewer, expiresAtMs: null, lastUsedMs: 0 });
    assert.equal(c.size(), 2);
    assert.equal(c.get('a'), undefined);
    assert.deepEqual(c.get('c'), viewer);
  });
});

describe('cached principals through the API (SQLite)', () => {
  let c: TestController;
  let store: OpenDatabase;
  let t = Date.parse('2030-01-01T00:00:00.000Z');
  const get = (token: string, url = '/api/v1/hosts') =>
    c.app.inject({ url, headers: { authorization: `Bearer ${token}` } });
  const lastUsed = async (name: string) =>
    (await store.db.selectFrom('api_tokens').select('last_used_at').where('name', '=', name).executeTakeFirstOrThrow())
      .last_used_at;

  before(async () => {
    store = openSqlite(':memory:');
    await migrateToLatest(store.db);
    c = await createTestController({ db: store.db, now: () => new Date(t) });
  });
  after(async () => {
    await c.close();
    await store.close();
  });

  it('a revoked token is refused at its next request, though it was just served from the cache', async () => {
    const { token } = await c.tokens.create({ name: 'cached', role: 'viewer' }, 'test');
    assert.equal((await get(token)).statusCode, 200);
    assert.equal((await get(token)).statusCode, 200);
    assert.ok(c.tokens.principals.size() > 0, 'the principal is cached');
    const res = await c.app.inject({
      method: 'DELETE',
      url: '/api/v1/tokens/cached',
      headers: { authorization: c.bearer.admin },
    });
    assert.equal(res.statusCode, 200);
    const refused = await get(token);
    assert.equal(refused.statusCode, 401);
    assert.match(refused.json().error.message, /revoked/);
  });

  it('an expiring token is refused from its expiry on, cache or not', async () => {
    const expiresAt = new Date(t + 10_000).toISOString();
    const { token } = await c.tokens.create({ name: 'expiring', role: 'viewer', expiresAt }, 'test');
    assert.equal((await get(token)).statusCode, 200);
    t += 10_000;
    const res = await get(token);
    assert.equal(res.statusCode, 401);
    assert.match(res.json().error.message, /expired/);
  });

  it('a role change of a user applies at the next request; a logout ends the session at once', async () => {
    const admin = { authorization: c.bearer.admin };
    const add = await c.app.inject({
      method: 'POST',
      url: '/api/v1/users',
      headers: admin,
      payload: { name: 'carol', role: 'viewer', password: 'carol-password-1' },
    });
    assert.equal(add.statusCode, 201);
    const login = await c.app.inject({
      method: 'POST',
      url: '/api/v1/login',
      payload: { name: 'carol', password: 'carol-password-1' },
    });
    const token = login.json().token as string;
    assert.equal((await get(token, '/api/v1/tokens')).statusCode, 403);
    const promote = await c.app.inject({
      method: 'PATCH',
      url: '/api/v1/users/carol',
      headers: admin,
      payload: { role: 'admin' },
    });
    assert.equal(promote.statusCode, 200);
    assert.equal((await get(token, '/api/v1/tokens')).statusCode, 200);
    const out = await c.app.inject({
      method: 'POST',
      url: '/api/v1/logout',
      headers: { authorization: `Bearer ${token}` },
    });
    assert.ok(out.statusCode < 300, `logout answered ${out.statusCode}`);
    assert.equal((await get(token)).statusCode, 401);
  });

  it('last_used_at is written at most once a minute, not per request', async () => {
    const { token } = await c.tokens.create({ name: 'busy', role: 'viewer' }, 'test');
    assert.equal((await get(token)).statusCode, 200);
    const first = await lastUsed('busy');
    assert.equal(first, new Date(t).toISOString());
    t += 20_000;
    for (let i = 0; i < 5; i++) assert.equal((await get(token)).statusCode, 200);
    assert.equal(await lastUsed('busy'), first);
    t += 41_000;
    assert.equal((await get(token)).statusCode, 200);
    assert.equal(await lastUsed('busy'), new Date(t).toISOString());
  });
});

import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { Kysely } from 'kysely';
import type { Database } from '../schema.js';
import { openSqlite } from '../store/database.js';
import { migrateToLatest } from '../store/migrate.js';
import { listControllers } from './cluster-view.js';
import { createElector, type RoleContext } from './elector.js';
import type { RoleLocks } from './role-locks.js';
import { SINGLETON_ROLES, memberHealth, roleLockKey, type SingletonRole } from './roles.js';

/** Advisory locks as PostgreSQL keeps them: one owner per key; a member's "connection" can break. */
function lockServer() {
  const owner = new Map<SingletonRole, string>();
  const broken = new Set<string>();
  return {
    owner,
    /** The member's connection dies (SIGKILL): the server releases every lock it held. */
    kill(member: string) {
      broken.add(member);
      for (const [role, m] of owner) if (m === member) owner.delete(role);
    },
    locksOf(member: string): RoleLocks {
      return {
        tryTake: async (role) => {
          broken.delete(member); // a new connection, as postgresRoleLocks opens after a broken one
          if (!owner.has(role)) owner.set(role, member);
          return owner.get(role) === member;
        },
        release: async (role) => {
          if (owner.get(role) === member) owner.delete(role);
        },
        check: async () => {
          if (broken.has(member)) throw new Error('connection terminated');
        },
        close: async () => {
          for (const [role, m] of owner) if (m === member) owner.delete(role);
        },
      };
    },
  };
}

async function setup() {
  const store = openSqlite(':memory:');
  await migrateToLatest(store.db);
  let t = Date.parse('2026-12-06T12:00:00Z');
  const clock = { now: () => new Date(t), advance: (ms: number) => (t += ms) };
  const locks = lockServer();
  const runs: Array<{ member: string; role: SingletonRole; ctx: RoleContext }> = [];
  const member = (id: string) =>
    createElector({
      db: store.db,
      locks: locks.locksOf(id),
      member: { id, name: id, url: `http://${id}:8080`, version: '0.1.0' },
      now: clock.now,
      pollMs: 60_000, // rounds are run by hand below
      work: Object.fromEntries(
        SINGLETON_ROLES.map((role) => [
          role,
          async (ctx: RoleContext) => {
            runs.push({ member: id, role, ctx });
            await new Promise<void>((r) => ctx.signal.addEventListener('abort', () => r(), { once: true }));
          },
        ]),
      ),
    });
  return { store, clock, locks, runs, member };
}

test('lock keys are distinct per role and apart from the event append lock', () => {
  const keys = SINGLETON_ROLES.map(roleLockKey);
  assert.equal(new Set(keys).size, keys.length);
  assert.ok(!keys.includes(0x6b696c6e2e657674n));
});

test('member health: healthy while its heartbeat is fresh, unhealthy once stale, stopped after a clean stop', () => {
  assert.equal(memberHealth({ lastSeen: 1000, stopped: false }, 5000, 10_000), 'healthy');
  assert.equal(memberHealth({ lastSeen: 1000, stopped: false }, 11_001, 10_000), 'unhealthy');
  assert.equal(memberHealth({ lastSeen: 1000, stopped: true }, 2000, 10_000), 'stopped');
});

test('one member holds every role; when its connection dies the other takes each with a newer term and the old fence fails', async () => {
  const { store, clock, locks, runs, member } = await setup();
  const a = member('a');
  const b = member('b');
  await a.start();
  await b.start();
  assert.deepEqual(
    a.held().map((h) => [h.role, h.term]),
    SINGLETON_ROLES.map((r) => [r, 1]),
  );
  assert.deepEqual(b.held(), []);
  assert.deepEqual(
    runs.map((r) => r.member),
    SINGLETON_ROLES.map(() => 'a'),
  );
  const aRuns = [...runs];
  for (const r of aRuns) assert.equal(await r.ctx.fence(), true);

  // a is killed: its locks go with its connection; b's next round takes every role at term 2.
  locks.kill('a');
  clock.advance(1000);
  await b.round();
  assert.deepEqual(
    b.held().map((h) => [h.role, h.term]),
    SINGLETON_ROLES.map((r) => [r, 2]),
  );
  // A paused a that wakes up: its fences fail before it acts, and its next round gives every role up.
  for (const r of aRuns) assert.equal(await r.ctx.fence(), false);
  // The fence inside a write: a's write is refused (nothing runs), b's runs and commits with its term.
  const marks = async () =>
    (await store.db.selectFrom('controllers').select('name').where('id', 'like', 'mark-%').execute()).length;
  const mark = (id: string) => async (tx: Kysely<Database>) => {
    await tx
      .insertInto('controllers')
      .values({ id, name: id, url: '', version: '', started_at: '', last_seen: '', stopped_at: null })
      .execute();
    return id;
  };
  const stale = aRuns.find((r) => r.role === 'silent-hosts')!;
  assert.deepEqual(await stale.ctx.write(mark('mark-a')), { ok: false });
  const fresh = runs.find((r) => r.member === 'b' && r.role === 'silent-hosts')!;
  assert.deepEqual(await fresh.ctx.write(mark('mark-b')), { ok: true, value: 'mark-b' });
  assert.equal(await marks(), 1, "only the current holder's write is in the store");
  await a.round();
  assert.deepEqual(a.held(), []);
  for (const r of aRuns) assert.equal(r.ctx.signal.aborted, true);

  const list = await listControllers(store.db, { now: clock.now(), staleMs: 10_000 });
  assert.deepEqual(list.map((m) => [m.id, m.health, m.roles.map((r) => r.role)]).sort(), [
    ['a', 'healthy', []],
    ['b', 'healthy', [...SINGLETON_ROLES].sort()],
  ]);
  // a writes no more heartbeats; b does (its heartbeat thread's write, member-heartbeat-worker.ts): after the stale
  // time a is unhealthy.
  clock.advance(11_000);
  await store.db
    .updateTable('controllers')
    .set({ last_seen: clock.now().toISOString() })
    .where('id', '=', 'b')
    .execute();
  const later = await listControllers(store.db, { now: clock.now(), staleMs: 10_000 });
  assert.deepEqual(later.map((m) => [m.id, m.health]).sort(), [
    ['a', 'unhealthy'],
    ['b', 'healthy'],
  ]);
  await a.stop();
  await b.stop();
  assert.equal(
    (await listControllers(store.db, { now: clock.now(), staleMs: 10_000 })).find((m) => m.id === 'b')?.health,
    'stopped',
  );
  await store.close();
});

test('work that ends while its role is held gives the role up; the next round takes it again with a new term', async () => {
  const store = openSqlite(':memory:');
  await migrateToLatest(store.db);
  const locks = lockServer();
  let started = 0;
  const e = createElector({
    db: store.db,
    locks: locks.locksOf('m'),
    member: { id: 'm', name: 'm', url: 'http://m', version: '0' },
    pollMs: 60_000,
    work: {
      'power-poll': async (ctx) => {
        started++;
        if (started === 1) throw new Error('driver exploded');
        await new Promise<void>((r) => ctx.signal.addEventListener('abort', () => r(), { once: true }));
      },
    },
  });
  await e.start();
  await new Promise((r) => setImmediate(r));
  assert.equal(
    e.held().find((h) => h.role === 'power-poll'),
    undefined,
  );
  await e.round();
  assert.equal(started, 2);
  assert.equal(e.held().find((h) => h.role === 'power-poll')?.term, 2);
  await e.stop();
  await store.close();
});

// The fence inside a write, on a real PostgreSQL with the real advisory locks:
// two members (electors in this process, each with its own role-lock
// connection). A holds every role; A "pauses" after its fence check and its
// lock connection dies meanwhile (what a SIGSTOPped controller meets once TCP
// keepalive or the server ends its session); B takes each role with a newer
// term; A wakes and writes: the write is refused and nothing of it is stored.
// And a write in flight holds the role row FOR SHARE: B's take of the next
// term waits for it, so a write and the term it checked commit together.
// Fails, does not skip, when the local PostgreSQL is down.
import { after, test } from 'node:test';
import assert from 'node:assert/strict';
import pg from 'pg';
import { sql, type Kysely } from 'kysely';
import { createTempPostgres, type TempPostgres } from '../../test/support/postgres.js';
import type { Database } from '../schema.js';
import { openDatabase, type OpenDatabase } from '../store/database.js';
import { migrateToLatest } from '../store/migrate.js';
import { createElector, type RoleContext } from './elector.js';
import { postgresRoleLocks } from './role-locks.js';
import { SINGLETON_ROLES, type SingletonRole } from './roles.js';

let database: TempPostgres | undefined;
let store: OpenDatabase | undefined;
after(async () => {
  await store?.close();
  await database?.drop();
});

test(
  'a paused holder whose locks died wakes to find its write refused; a write in flight delays the next term',
  { timeout: 60_000 },
  async (t) => {
    database = await createTempPostgres('fence');
    store = await openDatabase({ dataDir: '', databaseUrl: database.url });
    const db = store.db;
    await migrateToLatest(db);
    const ctxs = new Map<string, RoleContext>();
    const member = (id: string) =>
      createElector({
        db,
        locks: postgresRoleLocks(database!.url, () => {}),
        member: { id, name: id, url: `http://${id}:8080`, version: '0.1.0' },
        pollMs: 60_000, // rounds run by hand below
        work: Object.fromEntries(
          SINGLETON_ROLES.map((role) => [
            role,
            async (ctx: RoleContext) => {
              ctxs.set(`${id} ${role}`, ctx);
              await new Promise<void>((r) => ctx.signal.addEventListener('abort', () => r(), { once: true }));
            },
          ]),
        ),
      });
    const a = member('a');
    const b = member('b');
    await a.start();
    await b.start();
    try {
      assert.deepEqual(
        a.held().map((h) => h.term),
        SINGLETON_ROLES.map(() => 1),
      );
      const role: SingletonRole = 'silent-hosts';
      const stale = ctxs.get(`a ${role}`)!;
      const note = (who: string) => async (tx: Kysely<Database>) => {
        await sql`insert into rate_counters (limiter, key, window_start, n) values ('fence-test', ${who}, '', 1)`.execute(
          tx,
        );
        return who;
      };
      const notes = async () =>
        (
          await db
            .selectFrom('rate_counters')
            .select('key')
            .where('limiter', '=', 'fence-test')
            .orderBy('key')
            .execute()
        ).map((r) => r.key);
      // A checks its fence, then pauses; while it is paused its lock session ends (pg_terminate_backend here).
      assert.equal(await stale.fence(), true);
      const admin = new pg.Client({ connectionString: database.url });
      await admin.connect();
      const killed = await admin.query<{ pid: number }>(
        `select pid from pg_locks where locktype = 'advisory' and granted group by pid`,
      );
      assert.equal(killed.rows.length, 1, "only A's lock session holds role locks");
      await admin.query('select pg_terminate_backend($1)', [killed.rows[0]!.pid]);
      // B's next round takes every role at term 2.
      await new Promise((r) => setTimeout(r, 200));
      await b.round();
      assert.deepEqual(
        b.held().map((h) => [h.role, h.term]),
        SINGLETON_ROLES.map((r) => [r, 2]),
      );
      // A wakes and writes as if it still held the role: refused, nothing stored; B's write is stored.
      assert.deepEqual(await stale.write(note('a-after-pause')), { ok: false });
      const fresh = ctxs.get(`b ${role}`)!;
      assert.deepEqual(await fresh.write(note('b')), { ok: true, value: 'b' });
      assert.deepEqual(await notes(), ['b']);
      // A's next round gives every role up.
      await a.round();
      assert.deepEqual(a.held(), []);

      // A write in flight (B's, holding the row FOR SHARE) delays the next term until it commits.
      let release!: () => void;
      const holdOpen = new Promise<void>((r) => (release = r));
      const writing = fresh.write(async (tx) => {
        await note('b-slow')(tx);
        await holdOpen;
      });
      await new Promise((r) => setTimeout(r, 200));
      const takeStarted = Date.now();
      const taking = db.transaction().execute(async (tx) => {
        await sql`select 1`.execute(tx);
        // What takeTerm does (an upsert of the row): it must wait for the write's FOR SHARE lock.
        await tx
          .updateTable('controller_roles')
          .set({ holder: 'a', term: sql<number>`term + 1` })
          .where('role', '=', role)
          .execute();
      });
      await new Promise((r) => setTimeout(r, 500));
      release();
      assert.deepEqual(await writing, { ok: true, value: undefined });
      await taking;
      const waited = Date.now() - takeStarted;
      t.diagnostic(`the next term's update waited ${waited} ms for the write in flight`);
      assert.ok(waited >= 450, `the term update waited for the write (${waited} ms)`);
      assert.deepEqual(await notes(), ['b', 'b-slow']);
      assert.deepEqual(await fresh.write(note('b-late')), { ok: false }, 'after the newer term: refused');
      await admin.end();
    } finally {
      await a.stop().catch(() => {});
      await b.stop().catch(() => {});
    }
  },
);

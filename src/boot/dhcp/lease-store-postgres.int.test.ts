import { test } from 'node:test';
import assert from 'node:assert/strict';
import { openDatabase } from '../../store/database.js';
import { migrateToLatest } from '../../store/migrate.js';
import { createTempPostgres } from '../../../test/support/postgres.js';
import { leaseStoreConformance } from './lease-store.conformance.js';
import { createSqlLeaseStore } from './sql-lease-store.js';
import { createLeaseIndex } from './lease-index.js';
import type { Lease } from './lease-store.js';

// The lease contract (an unexpired address never goes to a second MAC) on a
// real PostgreSQL server, as several controllers sharing one fleet use it.
leaseStoreConformance('postgres', async () => {
  const pg = await createTempPostgres('lease');
  const o = await openDatabase({ dataDir: '', databaseUrl: pg.url });
  await migrateToLatest(o.db);
  return {
    store: createSqlLeaseStore(o.db, { postgres: true }),
    close: async () => {
      await o.close();
      await pg.drop();
    },
  };
});

test("two controllers' lease indexes on one PostgreSQL: each hears the other's binds and releases as they commit (LISTEN/NOTIFY), and a stale pick is still refused", async (t) => {
  const pg = await createTempPostgres('leasenotify');
  const a = await openDatabase({ dataDir: '', databaseUrl: pg.url });
  const b = await openDatabase({ dataDir: '', databaseUrl: pg.url });
  await migrateToLatest(a.db);
  const ia = createLeaseIndex(createSqlLeaseStore(a.db, { postgres: { url: pg.url } }));
  const ib = createLeaseIndex(createSqlLeaseStore(b.db, { postgres: { url: pg.url } }));
  t.after(async () => {
    await ia.close();
    await ib.close();
    await a.close();
    await b.close();
    await pg.drop();
  });
  const subnet = '10.0.0.0/24';
  const mac = 'aa:00:00:00:00:01';
  /** Polls `ib`'s memory (no query) until `ok`: bounded at 5 s. */
  const heard = async (what: string, ok: () => boolean) => {
    for (let i = 0; i < 100 && !ok(); i++) await new Promise((r) => setTimeout(r, 50));
    assert.ok(ok(), `b heard ${what}`);
  };
  const now = Date.now();
  await ia.getByIp('10.0.0.1');
  await ib.getByIp('10.0.0.1');
  assert.deepEqual(await ia.putMany([{ ip: '10.0.0.10', mac, subnet, expiresAt: now + 60_000, state: 'bound' }], now), [
    'ok',
  ]);
  await heard('the bind', () => (ib.peekByMac!(mac, subnet) as Lease | undefined)?.ip === '10.0.0.10');
  // a binds the MAC elsewhere by a later request: b follows, and frees .10.
  assert.deepEqual(
    await ia.putMany([{ ip: '10.0.0.11', mac, subnet, expiresAt: now + 61_000, state: 'bound' }], now + 1000),
    ['ok'],
  );
  await heard('the move', () => (ib.peekByMac!(mac, subnet) as Lease | undefined)?.ip === '10.0.0.11');
  assert.equal(ib.peekByIp!('10.0.0.10'), undefined);
  await ia.release('10.0.0.11', mac, now + 2000);
  await heard('the release', () => (ib.peekByIp!('10.0.0.11') as Lease | undefined)?.expiresAt === now + 2000);
  // b's own writes are not applied twice and a's index hears them too.
  assert.deepEqual(
    await ib.putMany(
      [{ ip: '10.0.0.12', mac: 'aa:00:00:00:00:02', subnet, expiresAt: now + 60_000, state: 'bound' }],
      now,
    ),
    ['ok'],
  );
  for (let i = 0; i < 100 && ia.peekByIp!('10.0.0.12') === undefined; i++) await new Promise((r) => setTimeout(r, 50));
  assert.equal((ia.peekByIp!('10.0.0.12') as Lease | undefined)?.mac, 'aa:00:00:00:00:02', 'a heard b');
  // The table stays the arbiter: a write against what the other holds is refused.
  assert.deepEqual(
    await ia.putMany(
      [{ ip: '10.0.0.12', mac: 'aa:00:00:00:00:03', subnet, expiresAt: now + 60_000, state: 'bound' }],
      now,
    ),
    ['conflict'],
  );
});

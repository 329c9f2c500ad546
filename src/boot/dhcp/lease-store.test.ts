import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { Kysely, SqliteDialect } from 'kysely';
import { createMemoryLeaseStore } from './lease-store.js';
import { createSqlLeaseStore, listBoundAddresses } from './sql-lease-store.js';
import { createSqliteLeaseStore } from './sqlite-lease-store.js';
import { leaseStoreConformance } from './lease-store.conformance.js';
import { startModuleWorker } from '../../runtime/module-worker.js';
import type { LeaseTables } from './lease-tables.js';
import { up as up0100 } from '../../store/migrations/0100-dhcp-leases.js';
import { up as up0420 } from '../../store/migrations/0420-dhcp-leases-without-rowid.js';

/** The lease table as the migrations leave it on SQLite (0420: WITHOUT ROWID, no MAC index). */
const up = async (db: Kysely<unknown>): Promise<void> => {
  await up0100(db);
  await up0420(db);
};

leaseStoreConformance('memory', async () => ({ store: createMemoryLeaseStore(), close: async () => {} }));

leaseStoreConformance('sqlite', async () => {
  const db = new Kysely<LeaseTables>({ dialect: new SqliteDialect({ database: new Database(':memory:') }) });
  await up(db as Kysely<unknown>);
  return { store: createSqlLeaseStore(db), close: () => db.destroy() };
});

leaseStoreConformance('sqlite prepared', async () => {
  const sqlite = new Database(':memory:');
  const db = new Kysely<LeaseTables>({ dialect: new SqliteDialect({ database: sqlite }) });
  await up(db as Kysely<unknown>);
  return { store: createSqliteLeaseStore(db, sqlite), close: () => db.destroy() };
});

leaseStoreConformance('sqlite file (worker commits)', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'kiln-lease-'));
  const sqlite = new Database(join(dir, 'leases.sqlite'));
  sqlite.pragma('journal_mode = WAL');
  const db = new Kysely<LeaseTables>({ dialect: new SqliteDialect({ database: sqlite }) });
  await up(db as Kysely<unknown>);
  return {
    store: createSqliteLeaseStore(db, sqlite),
    close: async () => {
      await db.destroy();
      rmSync(dir, { recursive: true, force: true });
    },
  };
});

test('listBoundAddresses: by MAC (a scan on SQLite); with the asking address bound to one of the MACs, that address alone', async () => {
  const sqlite = new Database(':memory:');
  const db = new Kysely<LeaseTables>({ dialect: new SqliteDialect({ database: sqlite }) });
  try {
    await up(db as Kysely<unknown>);
    const store = createSqliteLeaseStore(db, sqlite);
    const l = (ip: string, mac: string, expiresAt: number) => ({
      ip,
      mac,
      subnet: '10.45.0.0/24',
      expiresAt,
      state: 'bound' as const,
    });
    await store.putMany(
      [
        l('10.45.0.10', 'aa:00:00:00:00:01', 5000),
        l('10.45.0.11', 'aa:00:00:00:00:02', 5000),
        l('10.45.0.12', 'aa:00:00:00:00:03', 1500),
      ],
      1000,
    );
    const macs = ['aa:00:00:00:00:01', 'aa:00:00:00:00:02', 'aa:00:00:00:00:03'];
    assert.deepEqual((await listBoundAddresses(db, macs, 2000)).sort(), ['10.45.0.10', '10.45.0.11']);
    assert.deepEqual(await listBoundAddresses(db, macs, 2000, '10.45.0.11'), ['10.45.0.11']);
    // Expired, or another MAC's: the answer is the list by MAC, which does not hold the asking address.
    assert.deepEqual((await listBoundAddresses(db, macs, 2000, '10.45.0.12')).sort(), ['10.45.0.10', '10.45.0.11']);
    assert.deepEqual(await listBoundAddresses(db, ['aa:00:00:00:00:01'], 2000, '10.45.0.11'), ['10.45.0.10']);
    assert.deepEqual(await listBoundAddresses(db, [], 2000, '10.45.0.11'), []);
  } finally {
    await db.destroy();
  }
});

test('sqlite file: the lease worker starts with the store, before the first commit, and commits with it', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'kiln-lease-'));
  const sqlite = new Database(join(dir, 'leases.sqlite'));
  sqlite.pragma('journal_mode = WAL');
  const db = new Kysely<LeaseTables>({ dialect: new SqliteDialect({ database: sqlite }) });
  try {
    await up(db as Kysely<unknown>);
    const started: string[] = [];
    const store = createSqliteLeaseStore(db, sqlite, {
      startWorker: (base, name, options) => {
        started.push(name);
        return startModuleWorker(base, name, options);
      },
    });
    assert.deepEqual(started, ['sqlite-lease-worker']);
    await store.ready?.();
    const lease = { ip: '10.45.0.10', mac: 'aa:00:00:00:00:01', subnet: '10.45.0.0/24', expiresAt: 5000 };
    assert.deepEqual(await store.putMany([{ ...lease, state: 'bound' }], 1000), ['ok']);
    assert.deepEqual(started, ['sqlite-lease-worker'], 'the first commit uses the worker already started');
    assert.equal((await store.getByIp('10.45.0.10'))?.mac, 'aa:00:00:00:00:01');
  } finally {
    await db.destroy();
    rmSync(dir, { recursive: true, force: true });
  }
});

test('sqlite file: ready() resolves even when the lease worker cannot start (no lease table yet); the write then fails', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'kiln-lease-'));
  const sqlite = new Database(join(dir, 'leases.sqlite'));
  const db = new Kysely<LeaseTables>({ dialect: new SqliteDialect({ database: sqlite }) });
  try {
    const store = createSqliteLeaseStore(db, sqlite);
    await store.ready?.();
    const lease = { ip: '10.45.0.10', mac: 'aa:00:00:00:00:01', subnet: '10.45.0.0/24', expiresAt: 5000 };
    await assert.rejects(store.putMany([{ ...lease, state: 'bound' }], 1000));
  } finally {
    await db.destroy();
    rmSync(dir, { recursive: true, force: true });
  }
});

import Database from 'better-sqlite3';
import { Kysely, SqliteDialect } from 'kysely';
import { createMemoryLeaseStore } from './lease-store.js';
import { createSqlLeaseStore } from './sql-lease-store.js';
import { leaseStoreConformance } from './lease-store.conformance.js';
import { up } from '../../store/migrations/0100-dhcp-leases.js';

leaseStoreConformance('memory', async () => ({ store: createMemoryLeaseStore(), close: async () => {} }));

leaseStoreConformance('sqlite', async () => {
  const db = new Kysely<any>({ dialect: new SqliteDialect({ database: new Database(':memory:') }) });
  await up(db);
  return { store: createSqlLeaseStore(db), close: () => db.destroy() };
});

import { openDatabase } from '../../store/database.js';
import { migrateToLatest } from '../../store/migrate.js';
import { createTempPostgres } from '../../../test/support/postgres.js';
import { leaseStoreConformance } from './lease-store.conformance.js';
import { createSqlLeaseStore } from './sql-lease-store.js';

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

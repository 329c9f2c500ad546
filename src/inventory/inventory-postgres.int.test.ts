import { runInventoryConformance } from './inventory.conformance.js';
import { openDatabase } from '../store/database.js';
import { migrateToLatest } from '../store/migrate.js';
import { createTempPostgres } from '../../test/support/postgres.js';

// Runs against the real PostgreSQL server; fails (does not skip) when it is down.
runInventoryConformance('postgres', async () => {
  const pg = await createTempPostgres('inv');
  const o = await openDatabase({ dataDir: '', databaseUrl: pg.url });
  await migrateToLatest(o.db);
  return {
    db: o.db,
    close: async () => {
      await o.close();
      await pg.drop();
    },
  };
});

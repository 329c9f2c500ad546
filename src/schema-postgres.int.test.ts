import { openDatabase } from './store/database.js';
import { migrateToLatest } from './store/migrate.js';
import { createTempPostgres } from '../test/support/postgres.js';
import { runSchemaConformance } from './schema.conformance.js';

// Runs against the real PostgreSQL server; fails (does not skip) when it is down.
runSchemaConformance('postgres', async () => {
  const pg = await createTempPostgres('schema');
  const o = await openDatabase({ dataDir: '', databaseUrl: pg.url });
  await migrateToLatest(o.db);
  return {
    db: o.db,
    dialect: o.dialect,
    close: async () => {
      await o.close();
      await pg.drop();
    },
  };
});

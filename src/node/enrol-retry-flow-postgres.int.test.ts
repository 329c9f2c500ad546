import { openDatabase } from '../store/database.js';
import { migrateToLatest } from '../store/migrate.js';
import { createTempPostgres } from '../../test/support/postgres.js';
import { enrolRetryScenario } from '../../test/support/enrol-retry.scenario.js';

// The same retried-enrolment scenario on a real PostgreSQL server (migration 0011, the conditional replacement).
enrolRetryScenario('postgres', async () => {
  const pg = await createTempPostgres('enrolretry');
  const o = await openDatabase({ dataDir: '', databaseUrl: pg.url });
  await migrateToLatest(o.db);
  return {
    opts: { db: o.db },
    close: async () => {
      await o.close();
      await pg.drop();
    },
  };
});

import { openDatabase } from '../store/database.js';
import { migrateToLatest } from '../store/migrate.js';
import { createTempPostgres } from '../../test/support/postgres.js';
import { completeRepeatScenario } from '../../test/support/complete-repeat.scenario.js';

// The same repeated-completion scenario on a real PostgreSQL server (migration 0012, the completion's write).
completeRepeatScenario('postgres', async () => {
  const pg = await createTempPostgres('completerepeat');
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

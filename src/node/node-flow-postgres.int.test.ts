import { openDatabase } from '../store/database.js';
import { migrateToLatest } from '../store/migrate.js';
import { createTempPostgres } from '../../test/support/postgres.js';
import { nodeFlowScenario } from '../../test/support/node-flow.scenario.js';

// The same node scenario (enrolment, deploy, secrets, certificates, refusals) on a real PostgreSQL server.
nodeFlowScenario('postgres', async () => {
  const pg = await createTempPostgres('flow');
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

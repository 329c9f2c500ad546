import { runInventoryConformance } from './inventory.conformance.js';
import { openSqlite } from '../store/database.js';
import { migrateToLatest } from '../store/migrate.js';

runInventoryConformance('sqlite', async () => {
  const o = openSqlite(':memory:');
  await migrateToLatest(o.db);
  return o;
});

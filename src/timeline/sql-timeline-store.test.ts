import { test } from 'node:test';
import { openSqlite } from '../store/database.js';
import { migrateToLatest } from '../store/migrate.js';
import { createSqlTimelineStore } from './sql-timeline-store.js';
import { checkStallCandidatePaging } from './stall-candidates.conformance.js';

test('stall candidates page by MAC (SQLite): each MAC once with its newest session, also when a MAC has more sessions than a page', async () => {
  const o = openSqlite(':memory:');
  await migrateToLatest(o.db);
  await checkStallCandidatePaging(createSqlTimelineStore(o.db));
  await o.close();
});

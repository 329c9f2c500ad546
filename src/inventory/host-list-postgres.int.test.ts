import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { sql } from 'kysely';
import { runHostListConformance } from './host-list.conformance.js';
import { openDatabase } from '../store/database.js';
import { migrateToLatest } from '../store/migrate.js';
import { createTempPostgres } from '../../test/support/postgres.js';

// Runs against the real PostgreSQL server; fails (does not skip) when it is down.
runHostListConformance('postgres', async () => {
  const pg = await createTempPostgres('hostlist');
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

// Keyset order and the prefix range compare host names bytewise on every server, whatever its locale.
describe('host names compare bytewise on PostgreSQL (migration 0340)', () => {
  it('hosts.name, host_tags.host_name and host_labels.host_name are COLLATE "C"', async () => {
    const pg = await createTempPostgres('hostcoll');
    const o = await openDatabase({ dataDir: '', databaseUrl: pg.url });
    try {
      await migrateToLatest(o.db);
      const { rows } = await sql<{ table_name: string; collation_name: string }>`
        select table_name, collation_name from information_schema.columns
        where (table_name, column_name) in (('hosts', 'name'), ('host_tags', 'host_name'), ('host_labels', 'host_name'))
        order by table_name`.execute(o.db);
      assert.deepEqual(
        rows.map((r) => `${r.table_name}:${r.collation_name}`),
        ['host_labels:C', 'host_tags:C', 'hosts:C'],
      );
    } finally {
      await o.close();
      await pg.drop();
    }
  });
});

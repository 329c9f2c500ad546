import type { Kysely } from 'kysely';

// self_test_runs: node self-test runs and their results (src/selftest/self-test-tables.ts).
// No foreign key to hosts: a deleted host's runs are removed by the self-test service.
export async function up(db: Kysely<unknown>): Promise<void> {
  await db.schema
    .createTable('self_test_runs')
    .addColumn('id', 'text', (c) => c.primaryKey())
    .addColumn('host_id', 'text', (c) => c.notNull())
    .addColumn('tests', 'text', (c) => c.notNull())
    .addColumn('destructive', 'integer', (c) => c.notNull())
    .addColumn('options', 'text', (c) => c.notNull())
    .addColumn('requested_by', 'text', (c) => c.notNull())
    .addColumn('requested_at', 'text', (c) => c.notNull())
    .addColumn('finished_at', 'text')
    .addColumn('outcome', 'text')
    .addColumn('results', 'text', (c) => c.notNull())
    .execute();
  await db.schema
    .createIndex('self_test_runs_host')
    .on('self_test_runs')
    .columns(['host_id', 'requested_at'])
    .execute();
}

export async function down(db: Kysely<unknown>): Promise<void> {
  await db.schema.dropTable('self_test_runs').ifExists().execute();
}

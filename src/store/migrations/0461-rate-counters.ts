import type { Kysely } from 'kysely';

// rate_counters: limits counted across every controller of a PostgreSQL store (src/ratelimit, docs/cluster.md):
// one row per limiter, key (a subnet, a source address) and window start (ISO, the minute); an upsert adds one.
// Old windows are pruned by the controller that counts (opportunistically, at most once a minute).
export async function up(db: Kysely<unknown>): Promise<void> {
  await db.schema
    .createTable('rate_counters')
    .addColumn('limiter', 'text', (c) => c.notNull())
    .addColumn('key', 'text', (c) => c.notNull())
    .addColumn('window_start', 'text', (c) => c.notNull())
    .addColumn('n', 'integer', (c) => c.notNull())
    .addPrimaryKeyConstraint('rate_counters_pk', ['limiter', 'key', 'window_start'])
    .execute();
  await db.schema.createIndex('rate_counters_window').on('rate_counters').column('window_start').execute();
}

export async function down(db: Kysely<unknown>): Promise<void> {
  await db.schema.dropTable('rate_counters').ifExists().execute();
}

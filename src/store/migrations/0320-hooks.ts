import type { Kysely } from 'kysely';

// Outbound hooks (src/hook/hook-tables.ts, docs/adr/0009): subscriptions, one
// durable cursor per hook over event positions, and the delivery queue that is
// also each hook's delivery history. No foreign keys: a delivery row names its
// hook by id (`exec:<name>` for hooks from the config file, which have no row).
export async function up(db: Kysely<unknown>): Promise<void> {
  await db.schema
    .createTable('hooks')
    .addColumn('id', 'text', (c) => c.primaryKey())
    .addColumn('name', 'text', (c) => c.notNull().unique())
    .addColumn('url', 'text', (c) => c.notNull())
    .addColumn('kinds', 'text', (c) => c.notNull())
    .addColumn('host_id', 'text')
    .addColumn('enabled', 'integer', (c) => c.notNull())
    .addColumn('secret_sealed', 'text', (c) => c.notNull())
    .addColumn('created_at', 'text', (c) => c.notNull())
    .addColumn('created_by', 'text', (c) => c.notNull())
    .execute();
  await db.schema
    .createTable('hook_cursors')
    .addColumn('hook_id', 'text', (c) => c.primaryKey())
    .addColumn('position', 'bigint', (c) => c.notNull())
    .addColumn('updated_at', 'text', (c) => c.notNull())
    .execute();
  await db.schema
    .createTable('hook_deliveries')
    .addColumn('id', 'text', (c) => c.primaryKey())
    .addColumn('hook_id', 'text', (c) => c.notNull())
    .addColumn('event_seq', 'bigint', (c) => c.notNull())
    .addColumn('event_kind', 'text', (c) => c.notNull())
    .addColumn('status', 'text', (c) => c.notNull())
    .addColumn('attempts', 'integer', (c) => c.notNull())
    .addColumn('next_at', 'text', (c) => c.notNull())
    .addColumn('claimed_until', 'text')
    .addColumn('last_status', 'integer')
    .addColumn('last_error', 'text')
    .addColumn('created_at', 'text', (c) => c.notNull())
    .addColumn('updated_at', 'text', (c) => c.notNull())
    .addUniqueConstraint('hook_deliveries_hook_event', ['hook_id', 'event_seq'])
    .execute();
  await db.schema.createIndex('hook_deliveries_due').on('hook_deliveries').columns(['status', 'next_at']).execute();
  await db.schema
    .createIndex('hook_deliveries_history')
    .on('hook_deliveries')
    .columns(['hook_id', 'updated_at'])
    .execute();
}

export async function down(db: Kysely<unknown>): Promise<void> {
  await db.schema.dropTable('hook_deliveries').ifExists().execute();
  await db.schema.dropTable('hook_cursors').ifExists().execute();
  await db.schema.dropTable('hooks').ifExists().execute();
}

import type { Kysely } from 'kysely';

// ab_switch_requests: `kiln host rollback` requests not yet handed to the host's heartbeat agent
// (src/deploy/deploy-tables.ts, src/deploy/ab-rollback.ts). One row per host at most.
export async function up(db: Kysely<unknown>): Promise<void> {
  await db.schema
    .createTable('ab_switch_requests')
    .addColumn('host_id', 'text', (c) => c.primaryKey())
    .addColumn('requested_at', 'text', (c) => c.notNull())
    .addColumn('requested_by', 'text', (c) => c.notNull())
    .execute();
}

export async function down(db: Kysely<unknown>): Promise<void> {
  await db.schema.dropTable('ab_switch_requests').ifExists().execute();
}

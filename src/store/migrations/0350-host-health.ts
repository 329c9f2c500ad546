import type { Kysely } from 'kysely';

// host_health: each host's last heartbeat and health (src/heartbeat/health-tables.ts),
// written in batches by the heartbeat service (never one write per heartbeat), read
// back at start so a restart keeps last-seen, boot id and the unreachable flag.
// No foreign key to hosts: a deleted host's row is dropped by the service.
export async function up(db: Kysely<unknown>): Promise<void> {
  await db.schema
    .createTable('host_health')
    .addColumn('host_id', 'text', (c) => c.primaryKey())
    .addColumn('last_seen_at', 'text', (c) => c.notNull())
    .addColumn('state', 'text', (c) => c.notNull())
    .execute();
}

export async function down(db: Kysely<unknown>): Promise<void> {
  await db.schema.dropTable('host_health').ifExists().execute();
}

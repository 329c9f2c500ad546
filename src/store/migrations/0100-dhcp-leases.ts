import type { Kysely } from 'kysely';

// DHCP leases. `ip` is the primary key so the database itself refuses to bind
// one address to two MACs, also across controllers sharing PostgreSQL.
// `expires_at` is ms since the epoch (bigint: fits 2^53 on both engines).
export async function up(db: Kysely<unknown>): Promise<void> {
  await db.schema
    .createTable('dhcp_leases')
    .addColumn('ip', 'text', (c) => c.primaryKey())
    .addColumn('mac', 'text', (c) => c.notNull())
    .addColumn('subnet', 'text', (c) => c.notNull())
    .addColumn('expires_at', 'bigint', (c) => c.notNull())
    .addColumn('hostname', 'text')
    .addColumn('state', 'text', (c) => c.notNull())
    .execute();
  await db.schema.createIndex('dhcp_leases_mac').on('dhcp_leases').columns(['mac', 'subnet']).execute();
}

export async function down(db: Kysely<unknown>): Promise<void> {
  await db.schema.dropTable('dhcp_leases').execute();
}

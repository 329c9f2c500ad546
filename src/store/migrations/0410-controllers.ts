import type { Kysely } from 'kysely';

// controllers: one row per running `kiln serve` on this store (a member), its heartbeat in last_seen.
// controller_roles: one row per singleton role, the member that holds it and its term (the fencing
// number: every new holder takes term + 1). src/cluster/cluster-tables.ts, docs/adr/0013.
export async function up(db: Kysely<unknown>): Promise<void> {
  await db.schema
    .createTable('controllers')
    .addColumn('id', 'text', (c) => c.primaryKey())
    .addColumn('name', 'text', (c) => c.notNull())
    .addColumn('url', 'text', (c) => c.notNull())
    .addColumn('version', 'text', (c) => c.notNull())
    .addColumn('started_at', 'text', (c) => c.notNull())
    .addColumn('last_seen', 'text', (c) => c.notNull())
    .addColumn('stopped_at', 'text')
    .execute();
  await db.schema
    .createTable('controller_roles')
    .addColumn('role', 'text', (c) => c.primaryKey())
    .addColumn('holder', 'text', (c) => c.notNull())
    .addColumn('term', 'integer', (c) => c.notNull())
    .addColumn('since', 'text', (c) => c.notNull())
    .execute();
}

export async function down(db: Kysely<unknown>): Promise<void> {
  await db.schema.dropTable('controller_roles').ifExists().execute();
  await db.schema.dropTable('controllers').ifExists().execute();
}

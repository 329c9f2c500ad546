import type { Kysely } from 'kysely';

// node_trust: one row per host. `armed` = the next enrolment may issue a
// credential (new hosts, deploy, `kiln host rearm`); `credential_hash` is the
// SHA-256 of the current node credential (null when none or revoked).
// deployments: what a host got, rendered once at deploy time and kept.
// site_secrets: crypted root password and authorized keys per scope.
export async function up(db: Kysely<unknown>): Promise<void> {
  await db.schema
    .createTable('node_trust')
    .addColumn('host_id', 'text', (c) => c.primaryKey().references('hosts.id').onDelete('cascade'))
    .addColumn('credential_hash', 'text', (c) => c.unique())
    .addColumn('issued_at', 'text')
    .addColumn('revoked_at', 'text')
    .addColumn('armed', 'integer', (c) => c.notNull().defaultTo(1))
    .addColumn('armed_reason', 'text')
    .addColumn('last_ip', 'text')
    .addColumn('last_seen_at', 'text')
    .execute();
  await db.schema
    .createTable('deployments')
    .addColumn('id', 'text', (c) => c.primaryKey())
    .addColumn('host_id', 'text', (c) => c.notNull())
    .addColumn('profile', 'text', (c) => c.notNull())
    .addColumn('files', 'text', (c) => c.notNull())
    .addColumn('boot_spec', 'text', (c) => c.notNull())
    .addColumn('image_spec', 'text')
    .addColumn('status', 'text', (c) => c.notNull())
    .addColumn('created_at', 'text', (c) => c.notNull())
    .addColumn('created_by', 'text', (c) => c.notNull())
    .addColumn('installed_at', 'text')
    .addColumn('completed_at', 'text')
    .execute();
  await db.schema.createIndex('deployments_host').on('deployments').columns(['host_id', 'created_at']).execute();
  await db.schema
    .createTable('site_secrets')
    .addColumn('scope', 'text', (c) => c.primaryKey())
    .addColumn('root_password_hash', 'text')
    .addColumn('authorized_keys', 'text', (c) => c.notNull().defaultTo('[]'))
    .addColumn('updated_at', 'text', (c) => c.notNull())
    .execute();
}

export async function down(db: Kysely<unknown>): Promise<void> {
  for (const t of ['site_secrets', 'deployments', 'node_trust']) await db.schema.dropTable(t).ifExists().execute();
}

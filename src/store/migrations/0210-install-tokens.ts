import type { Kysely } from 'kysely';

// install_tokens: the per-deployment URL token an installer presents in the
// path of its install-file fetches (debian-installer's preseed/url, anaconda's
// inst.ks, cloud-init's nocloud seed cannot send a header). Only the SHA-256 of
// the token is stored; the token itself is derived from the controller's data
// key and the deployment id when a boot script or install file is served.
export async function up(db: Kysely<unknown>): Promise<void> {
  await db.schema
    .createTable('install_tokens')
    .addColumn('token_hash', 'text', (c) => c.primaryKey())
    .addColumn('deployment_id', 'text', (c) => c.notNull().unique())
    .addColumn('host_id', 'text', (c) => c.notNull())
    .addColumn('created_at', 'text', (c) => c.notNull())
    .addColumn('expires_at', 'text', (c) => c.notNull())
    .execute();
  await db.schema.createIndex('install_tokens_host').on('install_tokens').column('host_id').execute();
}

export async function down(db: Kysely<unknown>): Promise<void> {
  await db.schema.dropTable('install_tokens').ifExists().execute();
}

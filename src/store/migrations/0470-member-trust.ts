import type { Kysely } from 'kysely';

// member_cas: each member's SSH CA and TLS CA public halves (never a private key), registered when it joins and
// again at each start. join_tokens: one-time join tokens, the secret kept only as its SHA-256. data_key_checks: a
// value sealed with the store's data key, so a member started with another data.key refuses to start.
// src/cluster/member-trust-tables.ts, docs/cluster.md "Joining".
export async function up(db: Kysely<unknown>): Promise<void> {
  await db.schema
    .createTable('member_cas')
    .addColumn('id', 'text', (c) => c.primaryKey())
    .addColumn('name', 'text', (c) => c.notNull())
    .addColumn('ssh_ca_public_key', 'text', (c) => c.notNull())
    .addColumn('tls_ca_pem', 'text', (c) => c.notNull())
    .addColumn('tls_ca_fingerprint', 'text', (c) => c.notNull())
    .addColumn('added_at', 'text', (c) => c.notNull())
    .addColumn('added_by', 'text', (c) => c.notNull())
    .addColumn('last_started_at', 'text')
    .execute();
  await db.schema
    .createTable('join_tokens')
    .addColumn('id', 'text', (c) => c.primaryKey())
    .addColumn('secret_hash', 'text', (c) => c.notNull())
    .addColumn('created_at', 'text', (c) => c.notNull())
    .addColumn('created_by', 'text', (c) => c.notNull())
    .addColumn('expires_at', 'text', (c) => c.notNull())
    .addColumn('used_at', 'text')
    .addColumn('used_by', 'text')
    .execute();
  await db.schema
    .createTable('data_key_checks')
    .addColumn('id', 'text', (c) => c.primaryKey())
    .addColumn('sealed', 'text', (c) => c.notNull())
    .addColumn('created_at', 'text', (c) => c.notNull())
    .execute();
}

export async function down(db: Kysely<unknown>): Promise<void> {
  await db.schema.dropTable('data_key_checks').ifExists().execute();
  await db.schema.dropTable('join_tokens').ifExists().execute();
  await db.schema.dropTable('member_cas').ifExists().execute();
}

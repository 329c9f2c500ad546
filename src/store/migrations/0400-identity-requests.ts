import type { Kysely } from 'kysely';

// node_identity_requests: a node that presents no identity (a stateless host
// whose identity partition is missing or wiped) asks for one here and waits
// for an operator's approval (`kiln host approve`). Only the SHA-256 of the
// node's request secret is stored; the approved request's secret is what
// claims the credential, so approval never hands a credential to whoever
// presents the MAC next. One live request per host (a newer one replaces it).
export async function up(db: Kysely<unknown>): Promise<void> {
  await db.schema
    .createTable('node_identity_requests')
    .addColumn('host_id', 'text', (c) => c.primaryKey())
    .addColumn('request_hash', 'text', (c) => c.notNull())
    .addColumn('code', 'text', (c) => c.notNull())
    .addColumn('status', 'text', (c) => c.notNull())
    .addColumn('ip', 'text', (c) => c.notNull())
    .addColumn('mac', 'text', (c) => c.notNull())
    .addColumn('requested_at', 'text', (c) => c.notNull())
    .addColumn('approved_at', 'text')
    .addColumn('approved_by', 'text')
    .execute();
}

export async function down(db: Kysely<unknown>): Promise<void> {
  await db.schema.dropTable('node_identity_requests').ifExists().execute();
}

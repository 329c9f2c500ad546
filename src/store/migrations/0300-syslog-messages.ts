import type { Kysely } from 'kysely';
import { isPostgres } from '../database.js';

// syslog_messages: what the syslog receiver keeps (src/syslog/syslog-tables.ts),
// append-only, written in batches and pruned by retention. No foreign key to
// hosts: a message outlives a deleted host, and an unknown sender has none.
export async function up(db: Kysely<unknown>): Promise<void> {
  const pg = isPostgres(db);
  await db.schema
    .createTable('syslog_messages')
    .addColumn('id', pg ? 'bigserial' : 'integer', (c) => (pg ? c.primaryKey() : c.primaryKey().autoIncrement()))
    .addColumn('host_id', 'text')
    .addColumn('received_at', 'text', (c) => c.notNull())
    .addColumn('source_ip', 'text', (c) => c.notNull())
    .addColumn('facility', 'integer', (c) => c.notNull())
    .addColumn('severity', 'integer', (c) => c.notNull())
    .addColumn('hostname', 'text')
    .addColumn('app', 'text')
    .addColumn('procid', 'text')
    .addColumn('msgid', 'text')
    .addColumn('text', 'text', (c) => c.notNull())
    .addColumn('session_id', 'text')
    .addColumn('defects', 'text')
    .addColumn('raw', 'text')
    .execute();
  await db.schema.createIndex('syslog_messages_host').on('syslog_messages').columns(['host_id', 'id']).execute();
  await db.schema
    .createIndex('syslog_messages_session')
    .on('syslog_messages')
    .columns(['host_id', 'session_id', 'id'])
    .execute();
  await db.schema.createIndex('syslog_messages_received').on('syslog_messages').column('received_at').execute();
}

export async function down(db: Kysely<unknown>): Promise<void> {
  await db.schema.dropTable('syslog_messages').ifExists().execute();
}

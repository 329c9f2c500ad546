import type { Kysely } from 'kysely';
import { isPostgres } from '../database.js';

// Timestamps are ISO-8601 UTC text (sortable, same on both engines); JSON is
// text so one query works on SQLite and PostgreSQL.
export async function up(db: Kysely<unknown>): Promise<void> {
  const pg = isPostgres(db);
  await db.schema
    .createTable('hosts')
    .addColumn('id', 'text', (c) => c.primaryKey())
    .addColumn('name', 'text', (c) => c.notNull().unique())
    .addColumn('state', 'text', (c) => c.notNull())
    .addColumn('state_reason', 'text')
    .addColumn('failed_stage', 'text')
    .addColumn('profile', 'text')
    .addColumn('firmware', 'text')
    .addColumn('facts', 'text', (c) => c.notNull().defaultTo('{}'))
    .addColumn('hardware_hash', 'text')
    .addColumn('needs_attention', 'integer', (c) => c.notNull().defaultTo(0))
    .addColumn('labels', 'text', (c) => c.notNull().defaultTo('{}'))
    .addColumn('bmc_driver', 'text')
    .addColumn('bmc_address', 'text')
    .addColumn('bmc_username', 'text')
    .addColumn('bmc_password_sealed', 'text')
    .addColumn('bmc_options', 'text', (c) => c.notNull().defaultTo('{}'))
    .addColumn('version', 'integer', (c) => c.notNull().defaultTo(1))
    .addColumn('created_at', 'text', (c) => c.notNull())
    .addColumn('updated_at', 'text', (c) => c.notNull())
    .execute();
  await db.schema.createIndex('hosts_state').on('hosts').columns(['state', 'name']).execute();

  await db.schema
    .createTable('host_nics')
    .addColumn('mac', 'text', (c) => c.primaryKey())
    .addColumn('host_id', 'text', (c) => c.notNull().references('hosts.id').onDelete('cascade'))
    .addColumn('name', 'text')
    .addColumn('is_boot', 'integer', (c) => c.notNull().defaultTo(0))
    .execute();
  await db.schema.createIndex('host_nics_host').on('host_nics').column('host_id').execute();

  await db.schema
    .createTable('host_tags')
    .addColumn('host_id', 'text', (c) => c.notNull().references('hosts.id').onDelete('cascade'))
    .addColumn('tag', 'text', (c) => c.notNull())
    .addPrimaryKeyConstraint('host_tags_pk', ['host_id', 'tag'])
    .execute();
  await db.schema.createIndex('host_tags_tag').on('host_tags').column('tag').execute();

  await db.schema
    .createTable('events')
    .addColumn('seq', pg ? 'bigserial' : 'integer', (c) => (pg ? c.primaryKey() : c.primaryKey().autoIncrement()))
    .addColumn('at', 'text', (c) => c.notNull())
    .addColumn('actor', 'text', (c) => c.notNull())
    .addColumn('kind', 'text', (c) => c.notNull())
    .addColumn('host_id', 'text')
    .addColumn('subject', 'text')
    .addColumn('message', 'text', (c) => c.notNull())
    .addColumn('reason', 'text')
    .addColumn('before', 'text')
    .addColumn('after', 'text')
    .addColumn('data', 'text')
    .execute();
  await db.schema.createIndex('events_host').on('events').columns(['host_id', 'seq']).execute();
  await db.schema.createIndex('events_kind').on('events').columns(['kind', 'seq']).execute();

  await db.schema
    .createTable('api_tokens')
    .addColumn('id', 'text', (c) => c.primaryKey())
    .addColumn('name', 'text', (c) => c.notNull())
    .addColumn('role', 'text', (c) => c.notNull())
    .addColumn('hash', 'text', (c) => c.notNull().unique())
    .addColumn('created_at', 'text', (c) => c.notNull())
    .addColumn('created_by', 'text', (c) => c.notNull())
    .addColumn('expires_at', 'text')
    .addColumn('revoked_at', 'text')
    .addColumn('last_used_at', 'text')
    .execute();
}

export async function down(db: Kysely<unknown>): Promise<void> {
  for (const t of ['api_tokens', 'events', 'host_tags', 'host_nics', 'hosts']) {
    await db.schema.dropTable(t).ifExists().execute();
  }
}

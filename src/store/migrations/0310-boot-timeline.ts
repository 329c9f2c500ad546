import type { Kysely } from 'kysely';
import { isPostgres } from '../database.js';

// boot_sessions and boot_observations: the boot timeline (src/timeline/timeline-tables.ts),
// written in batches beside the inventory, pruned by retention. No foreign key to
// hosts: a boot of an unknown MAC is timed before its host exists.
export async function up(db: Kysely<unknown>): Promise<void> {
  const pg = isPostgres(db);
  await db.schema
    .createTable('boot_sessions')
    .addColumn('mac', 'text', (c) => c.notNull())
    .addColumn('session_id', 'text', (c) => c.notNull())
    .addColumn('host_id', 'text')
    .addColumn('host_name', 'text', (c) => c.notNull())
    .addColumn('started_at', 'text', (c) => c.notNull())
    .addColumn('updated_at', 'text', (c) => c.notNull())
    .addColumn('state', 'text', (c) => c.notNull())
    .addPrimaryKeyConstraint('boot_sessions_pk', ['mac', 'session_id'])
    .execute();
  await db.schema.createIndex('boot_sessions_host').on('boot_sessions').columns(['host_id', 'started_at']).execute();
  await db.schema.createIndex('boot_sessions_updated').on('boot_sessions').column('updated_at').execute();
  await db.schema
    .createTable('boot_observations')
    .addColumn('id', pg ? 'bigserial' : 'integer', (c) => (pg ? c.primaryKey() : c.primaryKey().autoIncrement()))
    .addColumn('mac', 'text', (c) => c.notNull())
    .addColumn('session_id', 'text', (c) => c.notNull())
    .addColumn('at', 'text', (c) => c.notNull())
    .addColumn('stage', 'text', (c) => c.notNull())
    .addColumn('outcome', 'text', (c) => c.notNull())
    .addColumn('detail', 'text', (c) => c.notNull())
    .execute();
  await db.schema
    .createIndex('boot_observations_session')
    .on('boot_observations')
    .columns(['mac', 'session_id', 'id'])
    .execute();
}

export async function down(db: Kysely<unknown>): Promise<void> {
  await db.schema.dropTable('boot_observations').ifExists().execute();
  await db.schema.dropTable('boot_sessions').ifExists().execute();
}

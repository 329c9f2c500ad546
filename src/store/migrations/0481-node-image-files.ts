import type { Kysely } from 'kysely';

// node_image_files: the files of each version of Kiln's node image a member built (or took from a directory), with
// their sizes and SHA-256s, written by the first member that has that version. A member lacking a file of a recorded
// version fetches it from a peer and keeps it only when its size and SHA-256 are these (docs/adr/0016).
export async function up(db: Kysely<unknown>): Promise<void> {
  await db.schema
    .createTable('node_image_files')
    .addColumn('version', 'text', (c) => c.notNull())
    .addColumn('file', 'text', (c) => c.notNull())
    .addColumn('arch', 'text', (c) => c.notNull())
    .addColumn('size', 'bigint', (c) => c.notNull())
    .addColumn('sha256', 'text', (c) => c.notNull())
    .addColumn('recorded_by', 'text', (c) => c.notNull())
    .addColumn('recorded_at', 'text', (c) => c.notNull())
    .addPrimaryKeyConstraint('node_image_files_pk', ['version', 'file'])
    .execute();
}

export async function down(db: Kysely<unknown>): Promise<void> {
  await db.schema.dropTable('node_image_files').ifExists().execute();
}

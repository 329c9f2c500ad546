import type { Kysely } from 'kysely';

// users: API users who log in with a password (argon2id PHC string, never the
// clear text). A login issues an ordinary api_tokens row whose user_id names
// the user, so one authenticate path serves both; such a token takes the
// user's role at each request, not the role column. user_id has no foreign
// key on purpose: deleting a user revokes its tokens and keeps the rows for
// the audit trail, and authenticate refuses a token whose user is gone.
export async function up(db: Kysely<unknown>): Promise<void> {
  await db.schema
    .createTable('users')
    .addColumn('id', 'text', (c) => c.primaryKey())
    .addColumn('name', 'text', (c) => c.notNull().unique())
    .addColumn('role', 'text', (c) => c.notNull())
    .addColumn('password_hash', 'text', (c) => c.notNull())
    .addColumn('created_at', 'text', (c) => c.notNull())
    .addColumn('created_by', 'text', (c) => c.notNull())
    .addColumn('disabled_at', 'text')
    .execute();
  await db.schema.alterTable('api_tokens').addColumn('user_id', 'text').execute();
  await db.schema.createIndex('api_tokens_user').on('api_tokens').column('user_id').execute();
}

export async function down(db: Kysely<unknown>): Promise<void> {
  await db.schema.dropIndex('api_tokens_user').ifExists().execute();
  await db.schema.alterTable('api_tokens').dropColumn('user_id').execute();
  await db.schema.dropTable('users').ifExists().execute();
}

import type { Kysely } from 'kysely';

// node_trust.installed_credential_hash / installed_until: the image writer's last progress report (`POST
// /node/progress` with stage "installed") was taken with this credential (its SHA-256), and until when the same
// report again is a repeat whose first answer was lost: answered as before, with no second event or deployment
// write (docs/discovery.md, "A lost answer"; the rule of 0012 for `POST /node/complete`).
export async function up(db: Kysely<unknown>): Promise<void> {
  await db.schema.alterTable('node_trust').addColumn('installed_credential_hash', 'text').execute();
  await db.schema.alterTable('node_trust').addColumn('installed_until', 'text').execute();
}

export async function down(db: Kysely<unknown>): Promise<void> {
  await db.schema.alterTable('node_trust').dropColumn('installed_until').execute();
  await db.schema.alterTable('node_trust').dropColumn('installed_credential_hash').execute();
}

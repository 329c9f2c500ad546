import type { Kysely } from 'kysely';

// node_trust.completed_stage / completed_credential_hash / completed_until: the
// last `POST /node/complete` a host's node made (its stage, the SHA-256 of the
// credential it came with) and the end of the window in which the same call
// again is a repeat whose first answer was lost: answered as before, with no
// second event or state change (docs/discovery.md, "A lost answer").
export async function up(db: Kysely<unknown>): Promise<void> {
  await db.schema.alterTable('node_trust').addColumn('completed_stage', 'text').execute();
  await db.schema.alterTable('node_trust').addColumn('completed_credential_hash', 'text').execute();
  await db.schema.alterTable('node_trust').addColumn('completed_until', 'text').execute();
}

export async function down(db: Kysely<unknown>): Promise<void> {
  await db.schema.alterTable('node_trust').dropColumn('completed_until').execute();
  await db.schema.alterTable('node_trust').dropColumn('completed_credential_hash').execute();
  await db.schema.alterTable('node_trust').dropColumn('completed_stage').execute();
}

import type { Kysely } from 'kysely';

// node_trust.enrol_secret_hash / enrol_until: a discovery report that enrols a
// host carries a random enrolment secret the node chose for this boot; only
// its SHA-256 is kept, with the end of the window in which a retry of the same
// report (its answer lost) may replace the credential, as long as that
// credential was never used. Both null once it was used, or for a credential
// issued any other way (docs/discovery.md, "A lost answer").
export async function up(db: Kysely<unknown>): Promise<void> {
  await db.schema.alterTable('node_trust').addColumn('enrol_secret_hash', 'text').execute();
  await db.schema.alterTable('node_trust').addColumn('enrol_until', 'text').execute();
}

export async function down(db: Kysely<unknown>): Promise<void> {
  await db.schema.alterTable('node_trust').dropColumn('enrol_until').execute();
  await db.schema.alterTable('node_trust').dropColumn('enrol_secret_hash').execute();
}

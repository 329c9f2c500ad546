import type { Kysely } from 'kysely';

// The background repo sync between members (docs/adr/0017-repo-subset-between-members.md, amended): what each member's
// published subset serves, written by that member after each publication: JSON, per suite the Release's Date and
// SHA-256 (src/repo/peer-sync-decision.ts). Peers read it at each heartbeat to learn of a newer subset; null until the
// member publishes one. A hint only: the peer's signed Release is what a member checks before it takes anything.
export async function up(db: Kysely<unknown>): Promise<void> {
  await db.schema.alterTable('member_cas').addColumn('repo_releases', 'text').execute();
}

export async function down(db: Kysely<unknown>): Promise<void> {
  await db.schema.alterTable('member_cas').dropColumn('repo_releases').execute();
}

import type { Kysely } from 'kysely';

// Admission control across members (docs/power.md, "Several members"): each member writes what its data plane says
// (a JSON object: boots in progress, its own congestion sign, its waiting room) with its heartbeat, so a batch
// power-on run by one member is paced by every member's headroom. Null from a member that publishes none.
export async function up(db: Kysely<unknown>): Promise<void> {
  await db.schema.alterTable('controllers').addColumn('load', 'text').execute();
}

export async function down(db: Kysely<unknown>): Promise<void> {
  await db.schema.alterTable('controllers').dropColumn('load').execute();
}

import type { Kysely } from 'kysely';

// controllers.api_url: each member's node API URL (HTTPS when its tls-listen is on, else its base URL), so the
// image writer's late step and the installed system's heartbeat agent can fail over to another member's HTTPS API
// (src/cluster/member-trust.ts memberApiUrls, docs/cluster.md "One address for machines"). Null for rows written
// before this migration: those members are left out of the HTTPS failover list until they start again.
export async function up(db: Kysely<unknown>): Promise<void> {
  await db.schema.alterTable('controllers').addColumn('api_url', 'text').execute();
}

export async function down(db: Kysely<unknown>): Promise<void> {
  await db.schema.alterTable('controllers').dropColumn('api_url').execute();
}

import type { Kysely } from 'kysely';

// Content shared between members (docs/cluster.md "Content between members"): each member's row names its HTTPS API
// URL (api_url, null when it serves no HTTPS) and its SSH CA fingerprint (member_ca, the member_cas row whose TLS CA
// its HTTPS certificate is verified against). A member fetches what it lacks from its peers over that URL only.
export async function up(db: Kysely<unknown>): Promise<void> {
  await db.schema.alterTable('controllers').addColumn('api_url', 'text').execute();
  await db.schema.alterTable('controllers').addColumn('member_ca', 'text').execute();
}

export async function down(db: Kysely<unknown>): Promise<void> {
  await db.schema.alterTable('controllers').dropColumn('member_ca').execute();
  await db.schema.alterTable('controllers').dropColumn('api_url').execute();
}

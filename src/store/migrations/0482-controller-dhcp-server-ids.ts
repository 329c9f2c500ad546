import type { Kysely } from 'kysely';

// DHCP for a dead member (docs/cluster.md, "DHCP REQUESTs for a dead member"): each member's row names the DHCP
// server identifiers it answers with (option 54; comma-separated IPv4 addresses, null when it serves no DHCP), so a
// live member can tell a REQUEST that names a dead member from one that names a foreign server.
export async function up(db: Kysely<unknown>): Promise<void> {
  await db.schema.alterTable('controllers').addColumn('dhcp_server_ids', 'text').execute();
}

export async function down(db: Kysely<unknown>): Promise<void> {
  await db.schema.alterTable('controllers').dropColumn('dhcp_server_ids').execute();
}

import type { Kysely } from 'kysely';

// The repo subset between members (docs/adr/0017-repo-subset-between-members.md): each member's repo signing PUBLIC
// key (binary OpenPGP, base64) and its fingerprint beside its CAs in member_cas, null until the member has a repo key.
// Installers and installed systems trust every member's key; a member re-publishing a peer's tree checks the peer's
// InRelease with it. The private key never leaves the member's data dir.
export async function up(db: Kysely<unknown>): Promise<void> {
  await db.schema.alterTable('member_cas').addColumn('repo_key_fingerprint', 'text').execute();
  await db.schema.alterTable('member_cas').addColumn('repo_public_key', 'text').execute();
}

export async function down(db: Kysely<unknown>): Promise<void> {
  await db.schema.alterTable('member_cas').dropColumn('repo_public_key').execute();
  await db.schema.alterTable('member_cas').dropColumn('repo_key_fingerprint').execute();
}

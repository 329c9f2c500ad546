import { sql, type Kysely } from 'kysely';

// Host list documents (0340): `kiln serve` looks for hosts whose stored
// document is older than the host at every start (renderStaleDocs in
// src/inventory/sql-host-store.ts). Without an index that is a scan of every
// host (0.2–1.7 s at 100 000 hosts) that finds nothing once the documents are
// written. A partial index holds only the stale hosts, so a start with none
// reads one empty index. SQLite uses a partial index only for a query whose
// WHERE has the index's condition term as written: `doc_version != version`
// here and in renderStaleDocs.
export async function up(db: Kysely<unknown>): Promise<void> {
  await sql`create index hosts_stale_doc on hosts (id) where doc_version != version`.execute(db);
}

export async function down(db: Kysely<unknown>): Promise<void> {
  await db.schema.dropIndex('hosts_stale_doc').ifExists().execute();
}

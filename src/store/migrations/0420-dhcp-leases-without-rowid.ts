import { sql, type Kysely } from 'kysely';
import { isPostgres } from '../database.js';

// SQLite only: `dhcp_leases` becomes a WITHOUT ROWID table clustered on `ip`
// and loses its (mac, subnet) index. Measured (docs/dhcp.md, "Bytes written
// per ACK"): with fresh clients each lease put a random MAC into that index,
// so every group commit wrote one 4 KiB page per lease (5-21 KB per lease),
// and the separate primary-key index on `ip` cost one more page per commit.
// The lease worker finds a MAC's previous address in its own map
// (lease-upsert-sqlite.ts), so no write path looks rows up by MAC; the rare
// reads by MAC (node credential check, the lease API filter) scan.
// PostgreSQL keeps its table and index: several controllers write there, so
// the write rule keeps deleting by MAC.
export async function up(db: Kysely<unknown>): Promise<void> {
  if (isPostgres(db)) return;
  await sql`create table dhcp_leases_0420 (
    ip text primary key not null,
    mac text not null,
    subnet text not null,
    expires_at bigint not null,
    hostname text,
    state text not null
  ) without rowid`.execute(db);
  await sql`insert into dhcp_leases_0420 (ip, mac, subnet, expires_at, hostname, state)
    select ip, mac, subnet, expires_at, hostname, state from dhcp_leases`.execute(db);
  await sql`drop table dhcp_leases`.execute(db);
  await sql`alter table dhcp_leases_0420 rename to dhcp_leases`.execute(db);
}

export async function down(db: Kysely<unknown>): Promise<void> {
  if (isPostgres(db)) return;
  await sql`create table dhcp_leases_0100 (
    ip text primary key,
    mac text not null,
    subnet text not null,
    expires_at bigint not null,
    hostname text,
    state text not null
  )`.execute(db);
  await sql`insert into dhcp_leases_0100 select ip, mac, subnet, expires_at, hostname, state from dhcp_leases`.execute(
    db,
  );
  await sql`drop table dhcp_leases`.execute(db);
  await sql`alter table dhcp_leases_0100 rename to dhcp_leases`.execute(db);
  await sql`create index dhcp_leases_mac on dhcp_leases (mac, subnet)`.execute(db);
}

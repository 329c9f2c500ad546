import type { Kysely, Selectable } from 'kysely';
import type { DhcpLeasesTable, LeaseTables } from './lease-tables.js';
import type { Lease, LeasePutResult, LeaseStore } from './lease-store.js';

type LeaseRow = Selectable<DhcpLeasesTable>;
/** Only the lease table: a `Kysely<Database>` is one, and so is a database holding migration 0100 alone. */
type Db = Kysely<LeaseTables>;

function fromRow(r: LeaseRow): Lease {
  return {
    ip: r.ip,
    mac: r.mac,
    subnet: r.subnet,
    expiresAt: Number(r.expires_at),
    hostname: r.hostname ?? undefined,
    state: r.state,
  };
}

/**
 * A LeaseStore over the `dhcp_leases` table (migration 0100) on SQLite or
 * PostgreSQL. `ip` is the primary key: an upsert only replaces a row that is
 * expired or held by the same MAC, so two controllers can never bind one
 * address to two MACs.
 */
export function createSqlLeaseStore(d: Db): LeaseStore {
  return {
    async getByMac(mac, subnet) {
      const r = await d
        .selectFrom('dhcp_leases')
        .selectAll()
        .where('mac', '=', mac)
        .where('subnet', '=', subnet)
        .where('state', '=', 'bound')
        .executeTakeFirst();
      return r && fromRow(r);
    },
    async getByIp(ip) {
      const r = await d.selectFrom('dhcp_leases').selectAll().where('ip', '=', ip).executeTakeFirst();
      return r && fromRow(r);
    },
    putMany(leases, now) {
      return d.transaction().execute(async (trx) => {
        const out: LeasePutResult[] = [];
        for (const l of leases) out.push(await putOne(trx, l, now));
        return out;
      });
    },
    async release(ip, mac) {
      await d.deleteFrom('dhcp_leases').where('ip', '=', ip).where('mac', '=', mac).execute();
    },
    async list(subnet) {
      let q = d.selectFrom('dhcp_leases').selectAll().orderBy('ip');
      if (subnet !== undefined) q = q.where('subnet', '=', subnet);
      return (await q.execute()).map(fromRow);
    },
  };
}

async function putOne(trx: Db, l: Lease, now: number): Promise<LeasePutResult> {
  const row = {
    ip: l.ip,
    mac: l.mac,
    subnet: l.subnet,
    expires_at: l.expiresAt,
    hostname: l.hostname ?? null,
    state: l.state,
  };
  const res = await trx
    .insertInto('dhcp_leases')
    .values(row)
    .onConflict((oc) =>
      oc
        .column('ip')
        .doUpdateSet({ mac: l.mac, subnet: l.subnet, expires_at: l.expiresAt, hostname: row.hostname, state: l.state })
        .where((eb) => eb.or([eb('dhcp_leases.mac', '=', l.mac), eb('dhcp_leases.expires_at', '<=', now)])),
    )
    .executeTakeFirst();
  if (Number(res.numInsertedOrUpdatedRows ?? 0n) === 0) return 'conflict';
  if (l.state === 'bound') {
    await trx
      .deleteFrom('dhcp_leases')
      .where('mac', '=', l.mac)
      .where('subnet', '=', l.subnet)
      .where('ip', '!=', l.ip)
      .where('state', '=', 'bound')
      .execute();
  }
  return 'ok';
}

/** Unexpired leases per subnet and state at `now` (ms), for metrics: one grouped query, no rows read. */
export async function countActiveLeases(
  db: Db,
  now: number,
): Promise<Array<{ subnet: string; state: string; count: number }>> {
  const rows = await db
    .selectFrom('dhcp_leases')
    .select(['subnet', 'state'])
    .select((eb) => eb.fn.countAll().as('n'))
    .where('expires_at', '>', now)
    .groupBy(['subnet', 'state'])
    .execute();
  return rows.map((r) => ({ subnet: r.subnet, state: r.state, count: Number(r.n) }));
}

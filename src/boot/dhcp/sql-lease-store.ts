import { sql } from 'kysely';
import type { Lease, LeasePutResult, LeaseStore } from './lease-store.js';
import { putLease, type LeaseDb, type LeaseRow } from './lease-upsert.js';
import { retryOnDeadlock } from '../../store/retry-deadlock.js';
import type { Logger } from '../../log/logger.js';
import { encodeLeaseNotices, LEASES_CHANNEL, listenForLeaseChanges, newLeaseOrigin } from './lease-notify.js';

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
 * expired or held by the same MAC (lease-upsert.ts), so two controllers can
 * never bind one address to two MACs. `postgres`: several controllers write
 * the table, so a batch first takes a transaction lock per MAC it binds
 * (lease-upsert.ts checks the MAC's other leases, then writes), and each
 * write and release is announced on `kiln_leases` in its transaction
 * (lease-notify.ts); with `postgres.url` the store also hears the other
 * controllers' (`watch`, for the DHCP server's lease index).
 */
export function createSqlLeaseStore(
  d: LeaseDb,
  opts: { postgres?: boolean | { url?: string | undefined; log?: Logger } } = {},
): LeaseStore {
  const pgOpts = opts.postgres === true ? {} : opts.postgres || undefined;
  const origin = newLeaseOrigin();
  const announce = async (trx: LeaseDb, written: readonly Lease[]): Promise<void> => {
    if (!pgOpts || written.length === 0) return;
    for (const payload of encodeLeaseNotices(origin, written))
      await sql`SELECT pg_notify(${LEASES_CHANNEL}, ${payload})`.execute(trx);
  };
  const url = pgOpts?.url;
  return {
    ...(url && {
      watch: (watcher) => listenForLeaseChanges({ url, origin, watcher, log: pgOpts.log }),
    }),
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
      // Rows are written in address order (one address's writes keep their order), so two controllers' batches take their row locks in the same order;
      // a deadlock that remains (a MAC's other lease is deleted too) aborts the whole batch, which runs again.
      const order = leases
        .map((_, i) => i)
        .sort((a, b) => (leases[a].ip < leases[b].ip ? -1 : leases[a].ip > leases[b].ip ? 1 : a - b));
      return retryOnDeadlock(() =>
        d.transaction().execute(async (trx) => {
          if (pgOpts) await lockMacs(trx, leases);
          const out: LeasePutResult[] = new Array<LeasePutResult>(leases.length);
          for (const i of order) out[i] = await putLease(trx, leases[i], now);
          await announce(
            trx,
            leases.filter((_, i) => out[i] === 'ok'),
          );
          return out;
        }),
      );
    },
    async release(ip, mac, now) {
      // Ended, not deleted: the row is the MAC's previous binding (LeaseStore.release).
      const end = (db: LeaseDb) =>
        db
          .updateTable('dhcp_leases')
          .set({ expires_at: now })
          .where('ip', '=', ip)
          .where('mac', '=', mac)
          .where('state', '=', 'bound')
          .where('expires_at', '>', now);
      if (!pgOpts) {
        await end(d).execute();
        return;
      }
      await d.transaction().execute(async (trx) => {
        const ended = await end(trx).returning('subnet').executeTakeFirst();
        if (ended) await announce(trx, [{ ip, mac, subnet: ended.subnet, expiresAt: now, state: 'bound' }]);
      });
    },
    async list(subnet) {
      let q = d.selectFrom('dhcp_leases').selectAll().orderBy('ip');
      if (subnet !== undefined) q = q.where('subnet', '=', subnet);
      return (await q.execute()).map(fromRow);
    },
  };
}

/**
 * Takes a transaction-scoped advisory lock per MAC the batch binds, in one statement and in key order (so two
 * controllers' batches wait for each other, not deadlock): another controller's binding of the same MAC cannot
 * land between this batch's check of the MAC's other leases and its write. Two MACs hashing alike only share a lock.
 */
async function lockMacs(trx: LeaseDb, leases: readonly Lease[]): Promise<void> {
  const macs = [...new Set(leases.filter((l) => l.state === 'bound').map((l) => l.mac))];
  if (macs.length === 0) return;
  await sql`SELECT pg_advisory_xact_lock(k) FROM (SELECT DISTINCT hashtext(m) AS k FROM unnest(${macs}::text[]) AS m ORDER BY 1) AS s`.execute(
    trx,
  );
}

/** Unexpired leases per subnet and state at `now` (ms), for metrics: one grouped query, no rows read. */
export async function countActiveLeases(
  db: LeaseDb,
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

/**
 * Addresses bound to any of `macs` and unexpired at `now` (ms), for the node credential's lease check.
 * With `ip` (the address asking): when `ip` itself is bound to one of `macs`, only `[ip]`, found by
 * primary key. On SQLite the table has no MAC index (migration 0420), so the list by MAC scans the
 * table (about 130 ms for 100 000 leases on a loaded 2-core machine); a host asking from the address
 * Kiln leased it never needs that scan.
 */
export async function listBoundAddresses(db: LeaseDb, macs: string[], now: number, ip?: string): Promise<string[]> {
  if (macs.length === 0) return [];
  if (ip !== undefined) {
    const own = await db
      .selectFrom('dhcp_leases')
      .select(['mac', 'state', 'expires_at'])
      .where('ip', '=', ip)
      .executeTakeFirst();
    if (own && own.state === 'bound' && Number(own.expires_at) > now && macs.includes(own.mac)) return [ip];
  }
  const rows = await db
    .selectFrom('dhcp_leases')
    .select('ip')
    .where('mac', 'in', macs)
    .where('state', '=', 'bound')
    .where('expires_at', '>', now)
    .execute();
  return rows.map((r) => r.ip);
}

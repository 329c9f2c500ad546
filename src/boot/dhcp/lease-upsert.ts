// The lease write rule, written once: an upsert takes an address only when it
// is free, expired at `now`, or held by the same MAC; a bound lease then drops
// the MAC's other bound leases in its subnet. Kysely runs these queries on
// SQLite and PostgreSQL (sql-lease-store.ts); compileLeaseUpsert turns the same
// queries into the statements of the better-sqlite3 group commit
// (lease-upsert-sqlite.ts), in this thread or on the lease worker.
import {
  DummyDriver,
  Kysely,
  SqliteAdapter,
  SqliteIntrospector,
  SqliteQueryCompiler,
  type CompiledQuery,
} from 'kysely';
import type { Lease, LeasePutResult } from './lease-store.js';
import { leaseParams, type LeaseParams, type LeaseStatement, type LeaseStatements } from './lease-upsert-sqlite.js';

/** A row of `dhcp_leases` (migration 0100); `expires_at` is ms since the epoch (a string from PostgreSQL's bigint). */
export interface LeaseRow {
  ip: string;
  mac: string;
  subnet: string;
  expires_at: number | string;
  hostname: string | null;
  state: string;
}

/** A Kysely connection or transaction that sees `dhcp_leases`. */
export type LeaseDb = Kysely<{ dhcp_leases: LeaseRow }>;

function upsertQuery(db: LeaseDb, p: LeaseParams) {
  const { now: _now, ...row } = p;
  return db
    .insertInto('dhcp_leases')
    .values(row)
    .onConflict((oc) =>
      oc
        .column('ip')
        .doUpdateSet({ mac: p.mac, subnet: p.subnet, expires_at: p.expires_at, hostname: p.hostname, state: p.state })
        .where((eb) => eb.or([eb('dhcp_leases.mac', '=', p.mac), eb('dhcp_leases.expires_at', '<=', p.now)])),
    );
}

function dropOthersQuery(db: LeaseDb, p: LeaseParams) {
  return db
    .deleteFrom('dhcp_leases')
    .where('mac', '=', p.mac)
    .where('subnet', '=', p.subnet)
    .where('ip', '!=', p.ip)
    .where('state', '=', 'bound');
}

/** Writes one lease by the rule inside the caller's transaction `trx`; `conflict` when another MAC holds the address. */
export async function putLease(trx: LeaseDb, l: Lease, now: number): Promise<LeasePutResult> {
  const p = leaseParams(l, now);
  const res = await upsertQuery(trx, p).executeTakeFirst();
  if (Number(res.numInsertedOrUpdatedRows ?? 0n) === 0) return 'conflict';
  if (l.state === 'bound') await dropOthersQuery(trx, p).execute();
  return 'ok';
}

/**
 * The rule's queries compiled for SQLite, once per store: built with a
 * placeholder value per lease field (Kysely with a driver that never
 * connects), each `?` is then traced back to its field; any other bound
 * value (the `'bound'` state) stays a constant.
 */
export function compileLeaseUpsert(): LeaseStatements {
  const compiler: LeaseDb = new Kysely({
    dialect: {
      createAdapter: () => new SqliteAdapter(),
      createDriver: () => new DummyDriver(),
      createIntrospector: (db) => new SqliteIntrospector(db),
      createQueryCompiler: () => new SqliteQueryCompiler(),
    },
  });
  const placeholders: LeaseParams = {
    ip: '\0ip',
    mac: '\0mac',
    subnet: '\0subnet',
    expires_at: -1,
    hostname: '\0hostname',
    state: '\0state',
    now: -2,
  };
  const fieldOf = new Map<unknown, keyof LeaseParams>(
    Object.entries(placeholders).map(([k, v]) => [v, k as keyof LeaseParams]),
  );
  const trace = (q: CompiledQuery): LeaseStatement => ({
    sql: q.sql,
    params: q.parameters.map((v) => {
      const key = fieldOf.get(v);
      return key ? { key } : { value: v as string | number | null };
    }),
  });
  return {
    upsert: trace(upsertQuery(compiler, placeholders).compile()),
    dropOthers: trace(dropOthersQuery(compiler, placeholders).compile()),
  };
}

// The lease write rule, written once: an upsert takes an address only when it
// is free, expired at `now`, or held by the same MAC; a bound lease then drops
// the MAC's other bound leases in its subnet. A bound lease's end is its
// request's arrival plus the lease time (dhcp-server.ts), so ends order
// requests: a bound lease is refused when the MAC already holds another
// address of the subnet that ends later, a binding made for a request that
// arrived after this one. Without that, a REQUEST that waited (in a queue, or
// at a slower controller) while its client gave up and was bound elsewhere
// took the old address back and dropped the one the client uses, which then
// went to a second machine (the three-controller storm test, in CI). After a
// lease time is lowered, a MAC moved to a new reserved address is refused
// until its old, longer lease ends. Kysely runs these queries on SQLite and
// PostgreSQL (sql-lease-store.ts; on PostgreSQL a batch first locks its MACs,
// so the check and the write are one step across controllers);
// compileLeaseUpsert turns the same queries into the statements of the
// better-sqlite3 group commit (lease-upsert-sqlite.ts), in this thread or on
// the lease worker. On SQLite the table has no index on `mac` (migration
// 0420), so that commit finds a MAC's previous lease, and its end, in a map
// it keeps (dropPrevious).
import {
  DummyDriver,
  Kysely,
  SqliteAdapter,
  SqliteIntrospector,
  SqliteQueryCompiler,
  type CompiledQuery,
  type Selectable,
} from 'kysely';
import type { Lease, LeasePutResult } from './lease-store.js';
import type { DhcpLeasesTable, LeaseTables } from './lease-tables.js';
import { leaseParams, type LeaseParams, type LeaseStatement, type LeaseStatements } from './lease-upsert-sqlite.js';

/** A row of `dhcp_leases` as read (lease-tables.ts). */
export type LeaseRow = Selectable<DhcpLeasesTable>;

/** A Kysely connection or transaction that sees `dhcp_leases`. */
export type LeaseDb = Kysely<LeaseTables>;

function upsertQuery(db: LeaseDb, p: LeaseParams) {
  // `state` is a string here: compileLeaseUpsert passes a placeholder for every field.
  const { now: _now, ...params } = p;
  const row = { ...params, state: params.state as Lease['state'] };
  return db
    .insertInto('dhcp_leases')
    .values(row)
    .onConflict((oc) =>
      oc
        .column('ip')
        .doUpdateSet({ mac: p.mac, subnet: p.subnet, expires_at: p.expires_at, hostname: p.hostname, state: row.state })
        .where((eb) => eb.or([eb('dhcp_leases.mac', '=', p.mac), eb('dhcp_leases.expires_at', '<=', p.now)])),
    );
}

/** The MAC's bound lease on one other address (`ip` here is that address), by primary key: the SQLite commit's form of dropOthers. */
function dropPreviousQuery(db: LeaseDb, p: LeaseParams) {
  return db
    .deleteFrom('dhcp_leases')
    .where('ip', '=', p.ip)
    .where('mac', '=', p.mac)
    .where('subnet', '=', p.subnet)
    .where('state', '=', 'bound');
}

/** Every bound lease's address, MAC, subnet and end: the SQLite commit's map of each MAC's address, loaded once. */
function listBoundQuery(db: LeaseDb) {
  return db.selectFrom('dhcp_leases').select(['ip', 'mac', 'subnet', 'expires_at']).where('state', '=', 'bound');
}

/** The MAC's other bound leases in the subnet that end before this one (the later binding wins: `putLease`). */
function dropOthersQuery(db: LeaseDb, p: LeaseParams) {
  return db
    .deleteFrom('dhcp_leases')
    .where('mac', '=', p.mac)
    .where('subnet', '=', p.subnet)
    .where('ip', '!=', p.ip)
    .where('state', '=', 'bound')
    .where('expires_at', '<=', p.expires_at);
}

/** A bound lease of the MAC on another address of the subnet that ends after this one: a binding made after this request arrived. */
function newerBindingQuery(db: LeaseDb, p: LeaseParams) {
  return db
    .selectFrom('dhcp_leases')
    .select('ip')
    .where('mac', '=', p.mac)
    .where('subnet', '=', p.subnet)
    .where('ip', '!=', p.ip)
    .where('state', '=', 'bound')
    .where('expires_at', '>', p.expires_at)
    .limit(1);
}

/**
 * Writes one lease by the rule inside the caller's transaction `trx`; `conflict` when another MAC holds the address,
 * or when the MAC holds another address of the subnet that ends later (bound for a later request).
 */
export async function putLease(trx: LeaseDb, l: Lease, now: number): Promise<LeasePutResult> {
  const p = leaseParams(l, now);
  if (l.state === 'bound' && (await newerBindingQuery(trx, p).executeTakeFirst())) return 'conflict';
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
    dropPrevious: trace(dropPreviousQuery(compiler, placeholders).compile()),
    listBound: trace(listBoundQuery(compiler).compile()),
  };
}

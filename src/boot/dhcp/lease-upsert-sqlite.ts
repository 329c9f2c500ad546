// The lease write rule of lease-upsert.ts as prepared better-sqlite3
// statements, for the synchronous group commit in this thread (in-memory
// database) and on the lease worker thread (sqlite-lease-worker.ts). No
// Kysely here: the worker gets the statements compiled by the main thread.
import type BetterSqlite3 from 'better-sqlite3';
import type { Lease, LeasePutResult } from './lease-store.js';

/** The values one lease write binds; `expires_at` and `now` are ms since the epoch. */
export interface LeaseParams {
  ip: string;
  mac: string;
  subnet: string;
  expires_at: number;
  hostname: string | null;
  state: string;
  now: number;
}

/** The bound values of `l` written at `now`. */
export function leaseParams(l: Lease, now: number): LeaseParams {
  return {
    ip: l.ip,
    mac: l.mac,
    subnet: l.subnet,
    expires_at: l.expiresAt,
    hostname: l.hostname ?? null,
    state: l.state,
    now,
  };
}

/** One compiled statement: its SQL and, per `?`, the lease value or the constant it binds. */
export interface LeaseStatement {
  sql: string;
  params: Array<{ key: keyof LeaseParams } | { value: string | number | null }>;
}

/** The rule's statements (compileLeaseUpsert in lease-upsert.ts); plain data, so a worker can receive them. */
export interface LeaseStatements {
  /** Takes the address when free, expired or held by the same MAC; changes no row otherwise. */
  upsert: LeaseStatement;
  /** Drops the MAC's bound lease on the address bound as `ip` (its previous one), by primary key. */
  dropPrevious: LeaseStatement;
  /** Address, MAC, subnet and end of every bound lease (no parameters). */
  listBound: LeaseStatement;
}

/**
 * The rule as one synchronous better-sqlite3 transaction over `sqlite`: call
 * it (deferred) or `.immediate(…)`. A write whose upsert changes no row is a
 * `conflict`; a bound lease then drops the MAC's previous one.
 *
 * The SQLite table has no index on `mac` (migration 0420: with fresh
 * clients each lease wrote a random page of it, 5-21 KB per lease). A MAC's
 * previous address comes from a map of subnet and MAC to address, loaded
 * once here and updated by each write; this connection makes every lease
 * write of a SQLite store (one controller per SQLite file). A RELEASE (on
 * another connection) only ends a lease, so the row stays the MAC's and the
 * map stays right; an entry that went stale (an expired or released address
 * taken by another MAC) is harmless: the delete also requires the MAC and
 * the bound state, so it changes nothing.
 */
/** One group commit: results per lease, in order; `immediate` takes the write lock up front (BEGIN IMMEDIATE). */
export type LeaseCommit = ((leases: Lease[], now: number) => LeasePutResult[]) & {
  immediate(leases: Lease[], now: number): LeasePutResult[];
};

export function createLeaseCommit(sqlite: BetterSqlite3.Database, statements: LeaseStatements): LeaseCommit {
  const prepare = (s: LeaseStatement) => {
    const st = sqlite.prepare(s.sql);
    // One argument array per statement, refilled per lease (better-sqlite3 binds an array as the anonymous
    // parameters and copies the values): no array, closure or spread per lease written.
    const args: Array<string | number | null> = s.params.map(() => null);
    const keys = s.params.map((b) => ('key' in b ? b.key : undefined));
    const values = s.params.map((b) => ('value' in b ? b.value : null));
    return (p: LeaseParams) => {
      for (let i = 0; i < args.length; i++) {
        const k = keys[i];
        args[i] = k === undefined ? values[i] : p[k];
      }
      return st.run(args);
    };
  };
  const upsert = prepare(statements.upsert);
  const dropPrevious = prepare(statements.dropPrevious);
  const key = (subnet: string, mac: string): string => `${subnet}|${mac}`;
  // Each MAC's bound address and its end, as written (a RELEASE on another connection only ends a lease earlier).
  const addressOf = new Map<string, { ip: string; expiresAt: number }>();
  const bound = sqlite
    .prepare(statements.listBound.sql)
    .all(...statements.listBound.params.map((b) => ('value' in b ? b.value : null))) as Array<{
    ip: string;
    mac: string;
    subnet: string;
    expires_at: number;
  }>;
  for (const r of bound) addressOf.set(key(r.subnet, r.mac), { ip: r.ip, expiresAt: Number(r.expires_at) });
  // This transaction's changes to the map, applied only after its commit (a rolled-back batch leaves the map alone).
  const pending = new Map<string, { ip: string; expiresAt: number }>();
  const tx = sqlite.transaction((leases: Lease[], now: number) =>
    leases.map((l): LeasePutResult => {
      const k = key(l.subnet, l.mac);
      const previous = l.state === 'bound' ? (pending.get(k) ?? addressOf.get(k)) : undefined;
      // lease-upsert.ts: a MAC bound elsewhere by a later request keeps that binding.
      if (previous !== undefined && previous.ip !== l.ip && previous.expiresAt > l.expiresAt) return 'conflict';
      const p = leaseParams(l, now);
      if (upsert(p).changes === 0) return 'conflict';
      if (l.state !== 'bound') return 'ok';
      if (previous !== undefined && previous.ip !== l.ip) dropPrevious({ ...p, ip: previous.ip });
      pending.set(k, { ip: l.ip, expiresAt: l.expiresAt });
      return 'ok';
    }),
  );
  const run =
    (begin: (leases: Lease[], now: number) => LeasePutResult[]) =>
    (leases: Lease[], now: number): LeasePutResult[] => {
      pending.clear();
      try {
        const results = begin(leases, now);
        for (const [k, ip] of pending) addressOf.set(k, ip);
        return results;
      } finally {
        pending.clear();
      }
    };
  return Object.assign(
    run((leases, now) => tx(leases, now)),
    { immediate: run((leases: Lease[], now: number) => tx.immediate(leases, now)) },
  );
}

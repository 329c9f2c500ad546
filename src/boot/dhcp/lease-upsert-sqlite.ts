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

/** The rule's two statements (compileLeaseUpsert in lease-upsert.ts); plain data, so a worker can receive them. */
export interface LeaseStatements {
  /** Takes the address when free, expired or held by the same MAC; changes no row otherwise. */
  upsert: LeaseStatement;
  /** Drops the MAC's other bound leases in the subnet. */
  dropOthers: LeaseStatement;
}

/**
 * The rule as one synchronous better-sqlite3 transaction over `sqlite`: call
 * it (deferred) or `.immediate(…)`. A write whose upsert changes no row is a
 * `conflict`; a bound lease then drops the MAC's others.
 */
export function createLeaseCommit(
  sqlite: BetterSqlite3.Database,
  statements: LeaseStatements,
): BetterSqlite3.Transaction<(leases: Lease[], now: number) => LeasePutResult[]> {
  const prepare = (s: LeaseStatement) => {
    const st = sqlite.prepare(s.sql);
    return (p: LeaseParams) => st.run(...s.params.map((b) => ('key' in b ? p[b.key] : b.value)));
  };
  const upsert = prepare(statements.upsert);
  const dropOthers = prepare(statements.dropOthers);
  return sqlite.transaction((leases: Lease[], now: number) =>
    leases.map((l): LeasePutResult => {
      const p = leaseParams(l, now);
      if (upsert(p).changes === 0) return 'conflict';
      if (l.state === 'bound') dropOthers(p);
      return 'ok';
    }),
  );
}

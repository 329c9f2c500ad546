import { sql, type Kysely } from 'kysely';
import { isPostgres } from './database.js';
import type { Database } from '../schema.js';

/**
 * Runs `fn` in one transaction on `db` and returns its result; when `db` is
 * already a transaction, `fn` joins it (Kysely has no nested transactions).
 * Services take an optional transaction handle and pass it here, so a caller
 * can commit the work of several services as one unit. On SQLite (one
 * connection) `fn` must use only the handle it is given: a query on the outer
 * database would wait for the transaction forever.
 */
export async function withTransaction<T>(db: Kysely<Database>, fn: (tx: Kysely<Database>) => Promise<T>): Promise<T> {
  if (db.isTransaction) return fn(db);
  if (!isPostgres(db)) return db.transaction().execute(fn);
  // PostgreSQL: the event append lock comes first, before any row lock, so that a transaction
  // holding it never waits for one that waits for it (docs/adr/0008); appendEvent re-takes it (re-entrant).
  return db.transaction().execute(async (tx) => {
    await sql`select pg_advisory_xact_lock(${EVENT_APPEND_LOCK.toString()}::bigint)`.execute(tx);
    return fn(tx);
  });
}

/**
 * The PostgreSQL advisory lock (transaction-scoped) that serialises the transactions that append
 * events, so that event `seq` order is commit order: any fixed 64-bit key no other code uses
 * ("kiln.evt" in ASCII).
 */
export const EVENT_APPEND_LOCK = 0x6b696c6e2e657674n;

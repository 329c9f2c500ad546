import type { Kysely } from 'kysely';
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
  return db.isTransaction ? fn(db) : db.transaction().execute(fn);
}

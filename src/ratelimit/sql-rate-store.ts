// The counters behind limits shared by the controllers of one store (rate_counters). Private to src/ratelimit/.
import { sql, type Kysely } from 'kysely';
import { isPostgres } from '../store/database.js';
import type { RateTables } from './rate-tables.js';

/** One counter: a limiter, a key and a window start (ISO). */
export interface CounterKey {
  limiter: string;
  key: string;
  windowStart: string;
}

/** Adds `k` to the counter in one statement (an upsert) and returns its new value. */
export async function addToCounter(db: Kysely<RateTables>, c: CounterKey, k: number): Promise<number> {
  const r = await db
    .insertInto('rate_counters')
    .values({ limiter: c.limiter, key: c.key, window_start: c.windowStart, n: k })
    .onConflict((oc) =>
      oc.columns(['limiter', 'key', 'window_start']).doUpdateSet({ n: sql<number>`rate_counters.n + ${k}` }),
    )
    .returning('n')
    .executeTakeFirstOrThrow();
  return Number(r.n);
}

/** The counter's value (0 when it has no row). */
export async function readCounter(db: Kysely<RateTables>, c: CounterKey): Promise<number> {
  const r = await db
    .selectFrom('rate_counters')
    .select('n')
    .where('limiter', '=', c.limiter)
    .where('key', '=', c.key)
    .where('window_start', '=', c.windowStart)
    .executeTakeFirst();
  return r ? Number(r.n) : 0;
}

/**
 * Claims up to `want` of the counter's room below `limit` in one transaction (the row locked on PostgreSQL, the
 * one writer on SQLite) and returns what was granted: 0..want. Two controllers never claim the same room.
 */
export async function claimFromCounter(
  db: Kysely<RateTables>,
  c: CounterKey,
  want: number,
  limit: number,
): Promise<number> {
  const postgres = isPostgres(db);
  return db.transaction().execute(async (tx) => {
    await tx
      .insertInto('rate_counters')
      .values({ limiter: c.limiter, key: c.key, window_start: c.windowStart, n: 0 })
      .onConflict((oc) => oc.columns(['limiter', 'key', 'window_start']).doNothing())
      .execute();
    const q = tx
      .selectFrom('rate_counters')
      .select('n')
      .where('limiter', '=', c.limiter)
      .where('key', '=', c.key)
      .where('window_start', '=', c.windowStart);
    const row = await (postgres ? q.forUpdate() : q).executeTakeFirstOrThrow();
    const granted = Math.max(0, Math.min(want, limit - Number(row.n)));
    if (granted > 0)
      await tx
        .updateTable('rate_counters')
        .set({ n: Number(row.n) + granted })
        .where('limiter', '=', c.limiter)
        .where('key', '=', c.key)
        .where('window_start', '=', c.windowStart)
        .execute();
    return granted;
  });
}

/** Deletes every counter whose window started before `before` (ISO); returns how many. */
export async function pruneCounters(db: Kysely<RateTables>, before: string): Promise<number> {
  const r = await db.deleteFrom('rate_counters').where('window_start', '<', before).executeTakeFirst();
  return Number(r.numDeletedRows);
}

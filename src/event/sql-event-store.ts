import { sql, type Kysely } from 'kysely';
import type { Database } from '../schema.js';
import { isPostgres } from '../store/database.js';
import { EVENT_APPEND_LOCK, withTransaction } from '../store/transaction.js';
import type { EventFilter, KilnEvent, NewEvent } from './event.js';

const json = (v: unknown): string | null => (v === undefined || v === null ? null : JSON.stringify(v));
const unjson = (v: unknown): unknown => (typeof v === 'string' ? JSON.parse(v) : null);

/** The PostgreSQL NOTIFY channel an event append signals: a controller's event feed polls at once (src/event/event-notify.ts). */
export const EVENTS_CHANNEL = 'kiln_events';

/**
 * Appends one event. Run it in the same transaction as the change it records, so neither exists without the other.
 * On PostgreSQL the insert first takes the append lock, held to the end of the transaction: a transaction
 * that takes seq n+1 can only do so after the one holding n has committed or rolled back, so a reader that
 * has seen n+1 never later sees n appear (SQLite has one writer: rowid order is commit order already).
 */
export async function appendEvent(db: Kysely<Database>, e: NewEvent, at: string): Promise<void> {
  if (isPostgres(db)) {
    await withTransaction(db, async (tx) => {
      await sql`select pg_advisory_xact_lock(${EVENT_APPEND_LOCK.toString()}::bigint)`.execute(tx);
      await insertEvent(tx, e, at);
      // Delivered to every listening controller when (and only if) this transaction commits, in commit order
      // (postgresql.org/docs/current/sql-notify.html); identical notifications of one transaction fold into one.
      await sql`select pg_notify(${EVENTS_CHANNEL}, '')`.execute(tx);
    });
    return;
  }
  await insertEvent(db, e, at);
}

async function insertEvent(db: Kysely<Database>, e: NewEvent, at: string): Promise<void> {
  await db
    .insertInto('events')
    .values({
      at,
      actor: e.actor,
      kind: e.kind,
      host_id: e.hostId ?? null,
      subject: e.subject ?? null,
      message: e.message,
      reason: e.reason ?? null,
      before: json(e.before),
      after: json(e.after),
      data: json(e.data),
    })
    .execute();
}

/** Lists events matching the filter, oldest first unless `order: 'desc'`. */
export async function listEvents(db: Kysely<Database>, f: EventFilter): Promise<KilnEvent[]> {
  let q = db.selectFrom('events').selectAll();
  if (f.hostId) q = q.where('host_id', '=', f.hostId);
  if (f.kind) q = q.where('kind', '=', f.kind);
  if (f.kindPrefix) q = q.where('kind', '>=', f.kindPrefix).where('kind', '<', `${f.kindPrefix}\uffff`);
  if (f.actor) q = q.where('actor', '=', f.actor);
  if (f.after !== undefined) q = q.where('seq', '>', f.after);
  if (f.before !== undefined) q = q.where('seq', '<', f.before);
  const rows = await q
    .orderBy('seq', f.order ?? 'asc')
    .limit(f.limit ?? 100)
    .execute();
  return rows.map((r) => ({
    seq: Number(r.seq),
    at: r.at,
    actor: r.actor,
    kind: r.kind,
    hostId: r.host_id,
    subject: r.subject,
    message: r.message,
    reason: r.reason,
    before: unjson(r.before),
    after: unjson(r.after),
    data: unjson(r.data),
  }));
}

// The hook domain's SQL: hooks, cursors and deliveries (hook-tables.ts).
// Only the hook domain, the composition root and tests import it.
import type { Kysely } from 'kysely';
import type { Database } from '../schema.js';
import type { HookDelivery, HttpHook } from './hook.js';

/** A hook row with its sealed secret: never leaves the hook service. */
export type StoredHook = HttpHook & { secretSealed: string };

type HookRow = Database['hooks'] extends infer T ? { [K in keyof T]: T[K] } : never;

const hookOf = (r: HookRow): StoredHook => ({
  id: r.id,
  name: r.name,
  url: r.url,
  kinds: JSON.parse(r.kinds) as string[],
  hostId: r.host_id,
  enabled: r.enabled === 1,
  createdAt: r.created_at,
  createdBy: r.created_by,
  secretSealed: r.secret_sealed,
});

export async function putHook(db: Kysely<Database>, h: StoredHook): Promise<void> {
  const row = {
    id: h.id,
    name: h.name,
    url: h.url,
    kinds: JSON.stringify(h.kinds),
    host_id: h.hostId,
    enabled: h.enabled ? 1 : 0,
    secret_sealed: h.secretSealed,
    created_at: h.createdAt,
    created_by: h.createdBy,
  };
  await db
    .insertInto('hooks')
    .values(row)
    .onConflict((oc) =>
      oc.column('id').doUpdateSet({ url: row.url, kinds: row.kinds, host_id: row.host_id, enabled: row.enabled }),
    )
    .execute();
}

/** A hook by id or by name, or undefined. */
export async function getHook(db: Kysely<Database>, idOrName: string): Promise<StoredHook | undefined> {
  const r = await db
    .selectFrom('hooks')
    .selectAll()
    .where((eb) => eb.or([eb('id', '=', idOrName), eb('name', '=', idOrName)]))
    .executeTakeFirst();
  return r ? hookOf(r) : undefined;
}

export async function listHooks(db: Kysely<Database>): Promise<StoredHook[]> {
  return (await db.selectFrom('hooks').selectAll().orderBy('name').execute()).map(hookOf);
}

/** Deletes a hook with its cursor and its delivery history. */
export async function deleteHook(db: Kysely<Database>, id: string): Promise<void> {
  await db.deleteFrom('hook_deliveries').where('hook_id', '=', id).execute();
  await db.deleteFrom('hook_cursors').where('hook_id', '=', id).execute();
  await db.deleteFrom('hooks').where('id', '=', id).execute();
}

/** The last event position queued for `hookId`, or undefined when it has no cursor yet. */
export async function getCursor(db: Kysely<Database>, hookId: string): Promise<number | undefined> {
  const r = await db.selectFrom('hook_cursors').select('position').where('hook_id', '=', hookId).executeTakeFirst();
  return r ? Number(r.position) : undefined;
}

/** Every cursor, by hook id. */
export async function listCursors(db: Kysely<Database>): Promise<Map<string, number>> {
  const rows = await db.selectFrom('hook_cursors').select(['hook_id', 'position']).execute();
  return new Map(rows.map((r) => [r.hook_id, Number(r.position)]));
}

export async function putCursor(db: Kysely<Database>, hookId: string, position: number, at: string): Promise<void> {
  await db
    .insertInto('hook_cursors')
    .values({ hook_id: hookId, position, updated_at: at })
    .onConflict((oc) => oc.column('hook_id').doUpdateSet({ position, updated_at: at }))
    .execute();
}

/** A delivery to queue: its id is made once, here, and kept on every attempt. */
export interface NewDelivery {
  id: string;
  hookId: string;
  eventSeq: number;
  eventKind: string;
}

/** Queues deliveries; one already queued for the same (hook, event) is kept as it is. */
export async function putDeliveries(db: Kysely<Database>, ds: readonly NewDelivery[], at: string): Promise<void> {
  if (ds.length === 0) return;
  await db
    .insertInto('hook_deliveries')
    .values(
      ds.map((d) => ({
        id: d.id,
        hook_id: d.hookId,
        event_seq: d.eventSeq,
        event_kind: d.eventKind,
        status: 'pending' as const,
        attempts: 0,
        next_at: at,
        claimed_until: null,
        last_status: null,
        last_error: null,
        created_at: at,
        updated_at: at,
      })),
    )
    .onConflict((oc) => oc.columns(['hook_id', 'event_seq']).doNothing())
    .execute();
}

type DeliveryRow = Database['hook_deliveries'] extends infer T ? { [K in keyof T]: T[K] } : never;

const deliveryOf = (r: DeliveryRow): HookDelivery => ({
  id: r.id,
  hookId: r.hook_id,
  eventSeq: Number(r.event_seq),
  eventKind: r.event_kind,
  status: r.status,
  attempts: r.attempts,
  nextAt: r.next_at,
  lastStatus: r.last_status,
  lastError: r.last_error,
  createdAt: r.created_at,
  updatedAt: r.updated_at,
});

/** Pending deliveries due at `now` and not claimed by a live sender, oldest first. */
export async function listDue(db: Kysely<Database>, now: string, limit: number): Promise<HookDelivery[]> {
  const rows = await db
    .selectFrom('hook_deliveries')
    .selectAll()
    .where('status', '=', 'pending')
    .where('next_at', '<=', now)
    .where((eb) => eb.or([eb('claimed_until', 'is', null), eb('claimed_until', '<=', now)]))
    .orderBy('next_at')
    .orderBy('event_seq')
    .limit(limit)
    .execute();
  return rows.map(deliveryOf);
}

/**
 * Claims a due delivery until `until` and counts the attempt; false when
 * another sender (another controller on the store) claimed it first.
 */
export async function claimDelivery(db: Kysely<Database>, id: string, now: string, until: string): Promise<boolean> {
  const r = await db
    .updateTable('hook_deliveries')
    .set((eb) => ({ claimed_until: until, attempts: eb('attempts', '+', 1), updated_at: now }))
    .where('id', '=', id)
    .where('status', '=', 'pending')
    .where((eb) => eb.or([eb('claimed_until', 'is', null), eb('claimed_until', '<=', now)]))
    .executeTakeFirst();
  return Number(r.numUpdatedRows) === 1;
}

/** Ends every running claim of a pending delivery (a new `hook-delivery` holder, src/cluster); returns how many. */
export async function releaseClaims(db: Kysely<Database>, now: string): Promise<number> {
  const r = await db
    .updateTable('hook_deliveries')
    .set({ claimed_until: null, updated_at: now })
    .where('status', '=', 'pending')
    .where('claimed_until', '>', now)
    .executeTakeFirst();
  return Number(r.numUpdatedRows);
}

/** Records the end of an attempt: delivered, dead, or pending again at `nextAt`. */
export async function finishAttempt(
  db: Kysely<Database>,
  id: string,
  f: {
    status: HookDelivery['status'];
    nextAt: string;
    lastStatus: number | null;
    lastError: string | null;
    at: string;
  },
): Promise<void> {
  await db
    .updateTable('hook_deliveries')
    .set({
      status: f.status,
      next_at: f.nextAt,
      claimed_until: null,
      last_status: f.lastStatus,
      last_error: f.lastError,
      updated_at: f.at,
    })
    .where('id', '=', id)
    .execute();
}

/** A hook's deliveries, newest event first. */
export async function listDeliveries(
  db: Kysely<Database>,
  q: { hookId: string; status?: HookDelivery['status']; limit: number },
): Promise<HookDelivery[]> {
  let s = db.selectFrom('hook_deliveries').selectAll().where('hook_id', '=', q.hookId);
  if (q.status) s = s.where('status', '=', q.status);
  return (await s.orderBy('event_seq', 'desc').limit(q.limit).execute()).map(deliveryOf);
}

/** Deliveries by status across every hook (the queue depth is `pending`). */
export async function countDeliveries(db: Kysely<Database>): Promise<Record<HookDelivery['status'], number>> {
  const rows = await db
    .selectFrom('hook_deliveries')
    .select((eb) => ['status', eb.fn.countAll<number | string>().as('n')])
    .groupBy('status')
    .execute();
  const out = { pending: 0, delivered: 0, dead: 0 };
  for (const r of rows) out[r.status] = Number(r.n);
  return out;
}

/**
 * Removes finished deliveries (delivered, dead) last touched before `before`,
 * and beyond the newest `maxPerHook` per hook. Pending ones are never removed.
 */
export async function pruneDeliveries(db: Kysely<Database>, before: string, maxPerHook: number): Promise<number> {
  const old = await db
    .deleteFrom('hook_deliveries')
    .where('status', '!=', 'pending')
    .where('updated_at', '<', before)
    .executeTakeFirst();
  let removed = Number(old.numDeletedRows);
  const hooks = await db
    .selectFrom('hook_deliveries')
    .select((eb) => ['hook_id', eb.fn.countAll<number | string>().as('n')])
    .where('status', '!=', 'pending')
    .groupBy('hook_id')
    .execute();
  for (const h of hooks) {
    if (Number(h.n) <= maxPerHook) continue;
    const edge = await db
      .selectFrom('hook_deliveries')
      .select('event_seq')
      .where('hook_id', '=', h.hook_id)
      .where('status', '!=', 'pending')
      .orderBy('event_seq', 'desc')
      .offset(maxPerHook)
      .limit(1)
      .executeTakeFirst();
    if (!edge) continue;
    const r = await db
      .deleteFrom('hook_deliveries')
      .where('hook_id', '=', h.hook_id)
      .where('status', '!=', 'pending')
      .where('event_seq', '<=', edge.event_seq)
      .executeTakeFirst();
    removed += Number(r.numDeletedRows);
  }
  return removed;
}

// The hook worker of one controller: on each tick it queues the events
// committed since each hook's cursor (one transaction per hook: deliveries
// and the moved cursor commit together), then claims due deliveries and
// sends them, a bounded number at a time. Every state it needs is in the
// store, so a controller killed mid-delivery loses nothing: the claim runs
// out and the same delivery (same id) is sent again. docs/adr/0009.
// Run as the `hook-delivery` role (src/cluster), every write goes through the
// role's fenced write: in its transaction the role row must still name the
// holder's term, so a holder that was paused and replaced has its queueing,
// claims and bookkeeping refused (docs/adr/0013).
import { randomUUID } from 'node:crypto';
import type { Kysely } from 'kysely';
import type { Database } from '../schema.js';
import { listEvents } from '../event/event-log.js';
import type { KilnEvent } from '../event/event.js';
import { silentLogger, type Logger } from '../log/logger.js';
import { withTransaction } from '../store/transaction.js';
import { retryDelayMs, type RetrySettings } from './back-off.js';
import { hookMatches, type AttemptResult, type HookDelivery, type HookFilter } from './hook.js';
import { formatHookBody } from './hook-request.js';
import * as store from './sql-hook-store.js';
import { sleepUnlessAborted } from '../runtime/sleep.js';

/** Something deliveries go to: an HTTP hook from the API or an executable hook from the config. */
export interface HookTarget {
  /** The hook id (`exec:<name>` for executable hooks): the key of its cursor and deliveries. */
  id: string;
  name: string;
  filter: HookFilter;
  /** A disabled target's cursor still moves: events while it is off are not queued. */
  enabled: boolean;
  /** How long a claim lasts: the attempt's own time limit plus a margin. */
  leaseMs: number;
  deliver(a: { deliveryId: string; event: KilnEvent; body: string; signal: AbortSignal }): Promise<AttemptResult>;
}

/**
 * Runs `fn` in one transaction and returns its value, or `ok: false` when the writer no longer holds its role
 * (nothing was written). Without a role: a plain transaction.
 */
export type HookWrite = <T>(
  fn: (tx: Kysely<Database>) => Promise<T>,
) => Promise<{ ok: true; value: T } | { ok: false }>;

/** Outcomes counted per attempt: delivered, failed (will retry), dead (no attempt left). */
export type DeliveryOutcome = 'delivered' | 'failed' | 'dead';

export interface HookWorkerDeps {
  db: Kysely<Database>;
  /** The targets now (read each tick: API hooks change at run time). */
  targets: () => Promise<HookTarget[]>;
  retry: RetrySettings;
  /** Deliveries in flight at once. */
  concurrency: number;
  history: { days: number; maxPerHook: number };
  now?: () => Date;
  random?: () => number;
  count?: (outcome: DeliveryOutcome) => void;
  log?: Logger;
}

const PAGE = 500;
/** Pages of new events queued per hook per tick, so one tick stays bounded. */
const PAGES_PER_TICK = 20;
const PRUNE_EVERY_MS = 3_600_000;

/** Creates the worker; `tick()` runs one round (tests call it), `run()` ticks until aborted. */
export function createHookWorker(deps: HookWorkerDeps) {
  const { db } = deps;
  const now = deps.now ?? (() => new Date());
  const random = deps.random ?? Math.random;
  const log = deps.log ?? silentLogger;
  const inFlight = new Map<string, Promise<void>>();
  let stopping = new AbortController();
  let lastPrune = 0;
  const plain: HookWrite = async (fn) => ({ ok: true, value: await withTransaction(db, fn) });
  /** The write of the current run: the role's fenced one while `run` has one. */
  let write: HookWrite = plain;
  /** The fence of the current run, checked again right before each send. */
  let fence: (() => Promise<boolean>) | null = null;
  /** Set when a fenced write was refused: the run stops (its role is lost) and nothing more is written. */
  let fencedOut = false;
  const refused = (what: string) => {
    if (!fencedOut) log.warn({ what }, 'hook worker: write refused, another controller holds hook-delivery now');
    fencedOut = true;
    stopping.abort();
  };

  /** Queues the new events of one target: its deliveries and its moved cursor commit together. */
  async function enqueue(t: HookTarget): Promise<void> {
    for (let page = 0; page < PAGES_PER_TICK; page++) {
      const done = await write(async (tx) => {
        const at = now().toISOString();
        const cursor = await store.getCursor(tx, t.id);
        if (cursor === undefined || !t.enabled) {
          // A new target starts at the newest event (history is not replayed); a disabled one skips ahead.
          const latest = (await listEvents(tx, { order: 'desc', limit: 1 }))[0]?.seq ?? 0;
          if (cursor !== latest) await store.putCursor(tx, t.id, latest, at);
          return false;
        }
        const events = await listEvents(tx, { after: cursor, limit: PAGE });
        if (events.length === 0) return false;
        const wanted = events.filter((e) => hookMatches(t.filter, e));
        await store.putDeliveries(
          tx,
          wanted.map((e) => ({ id: randomUUID(), hookId: t.id, eventSeq: e.seq, eventKind: e.kind })),
          at,
        );
        await store.putCursor(tx, t.id, events.at(-1)!.seq, at);
        return events.length === PAGE;
      });
      if (!done.ok) return refused('queueing deliveries');
      if (!done.value) return;
    }
  }

  async function attempt(t: HookTarget | undefined, d: HookDelivery): Promise<void> {
    let result: AttemptResult;
    const event = (await listEvents(db, { after: d.eventSeq - 1, limit: 1 }))[0];
    if (!t) result = { ok: false, status: null, error: 'the hook no longer exists' };
    else if (!event || event.seq !== d.eventSeq)
      result = { ok: false, status: null, error: 'the event is no longer in the log' };
    else if (fence && !(await fence())) return refused('sending a delivery');
    else {
      const body = formatHookBody(d.id, t.name, event);
      result = await t
        .deliver({ deliveryId: d.id, event, body, signal: stopping.signal })
        .catch((err: unknown) => ({ ok: false, status: null, error: `failed: ${(err as Error).message}` }));
    }
    const at = now();
    const attempts = d.attempts + 1;
    const gone = !t || !event || event.seq !== d.eventSeq;
    const delay = result.ok || gone ? null : retryDelayMs(attempts, deps.retry, random);
    const outcome: DeliveryOutcome = result.ok ? 'delivered' : delay === null ? 'dead' : 'failed';
    const finished = await write((tx) =>
      store.finishAttempt(tx, d.id, {
        status: outcome === 'failed' ? 'pending' : outcome,
        nextAt: new Date(at.getTime() + (delay ?? 0)).toISOString(),
        lastStatus: result.status,
        lastError: result.ok ? null : result.error,
        at: at.toISOString(),
      }),
    );
    // The new holder ended this claim and sends the delivery again (same id): its bookkeeping is the one kept.
    if (!finished.ok) return refused('recording an attempt');
    deps.count?.(outcome);
    const fields = { hook: t?.name ?? d.hookId, deliveryId: d.id, seq: d.eventSeq, attempts, status: result.status };
    if (outcome === 'dead') log.warn({ ...fields, err: result.ok ? '' : result.error }, 'hook delivery dead-lettered');
    else if (outcome === 'failed')
      log.debug(
        { ...fields, err: result.ok ? '' : result.error, retryInMs: delay },
        'hook delivery failed; will retry',
      );
  }

  /** Claims what is due, up to the free concurrency, and starts sending it. */
  async function dispatch(targets: Map<string, HookTarget>): Promise<void> {
    const free = deps.concurrency - inFlight.size;
    if (free <= 0) return;
    const at = now();
    const due = await store.listDue(db, at.toISOString(), free + inFlight.size);
    for (const d of due) {
      if (inFlight.size >= deps.concurrency) break;
      if (inFlight.has(d.id)) continue;
      const t = targets.get(d.hookId);
      const until = new Date(at.getTime() + (t?.leaseMs ?? 60_000)).toISOString();
      const claimed = await write((tx) => store.claimDelivery(tx, d.id, at.toISOString(), until));
      if (!claimed.ok) return refused('claiming a delivery');
      if (!claimed.value) continue;
      const p = attempt(t, d)
        .catch((err: unknown) =>
          log.warn({ deliveryId: d.id, err: (err as Error).message }, 'hook delivery: recording the attempt failed'),
        )
        .finally(() => inFlight.delete(d.id));
      inFlight.set(d.id, p);
    }
  }

  async function prune(): Promise<void> {
    const t = now().getTime();
    if (t - lastPrune < PRUNE_EVERY_MS) return;
    lastPrune = t;
    const before = new Date(t - deps.history.days * 86_400_000).toISOString();
    const removed = await write((tx) => store.pruneDeliveries(tx, before, deps.history.maxPerHook));
    if (!removed.ok) return refused('pruning history');
    if (removed.value) log.debug({ removed: removed.value }, 'hook delivery history pruned');
  }

  let ticking: Promise<void> | null = null;
  /** One round: queue new events for every target, send what is due, prune history hourly. One round at a time. */
  function tick(): Promise<void> {
    ticking ??= (async () => {
      const targets = await deps.targets();
      // Read without a lock: a stale answer only delays queueing to the next round. A target whose cursor is at
      // the newest event opens no transaction (on PostgreSQL each one takes the event append lock, ADR 0008).
      const latest = (await listEvents(db, { order: 'desc', limit: 1 }))[0]?.seq ?? 0;
      const cursors = await store.listCursors(db);
      for (const t of targets) if (!fencedOut && cursors.get(t.id) !== latest) await enqueue(t);
      if (!fencedOut) await dispatch(new Map(targets.map((t) => [t.id, t])));
      if (!fencedOut) await prune();
    })().finally(() => {
      ticking = null;
    });
    return ticking;
  }

  return {
    tick,
    /**
     * Ends every claim now, so the deliveries a previous holder of `hook-delivery` had in flight are due again at
     * once (not when their claim runs out). Only the new holder calls it, right after taking the role.
     */
    releaseClaims: async (w: HookWrite = plain): Promise<number> => {
      const r = await w((tx) => store.releaseClaims(tx, now().toISOString()));
      return r.ok ? r.value : 0;
    },
    /** Waits for the deliveries in flight (tests). */
    settle: async () => {
      await Promise.all(inFlight.values());
    },
    /**
     * Ticks every `intervalMs` until `signal` aborts, then waits for the deliveries in flight (each bounded by its
     * timeout). `fence` is checked before each tick: false skips it (a controller that lost `hook-delivery`, src/cluster);
     * `write` (the role's fenced write) carries every write of the run, and the first one refused ends the run.
     */
    async run(o: {
      intervalMs: number;
      signal: AbortSignal;
      fence?: () => Promise<boolean>;
      write?: HookWrite;
    }): Promise<void> {
      // One abort per run: a controller that loses `hook-delivery` and takes it again runs the worker again.
      const stop = (stopping = new AbortController());
      o.signal.addEventListener('abort', () => stop.abort(), { once: true });
      write = o.write ?? plain;
      fence = o.fence ?? null;
      fencedOut = false;
      while (!o.signal.aborted && !fencedOut) {
        if (o.fence && !(await o.fence())) break;
        await tick().catch((err: unknown) =>
          log.warn({ err: (err as Error).message }, 'hook worker round failed; retrying'),
        );
        await sleepUnlessAborted(o.intervalMs, stop.signal);
      }
      await Promise.all(inFlight.values());
      write = plain;
      fence = null;
    },
  };
}

/** A hook worker. */
export type HookWorker = ReturnType<typeof createHookWorker>;

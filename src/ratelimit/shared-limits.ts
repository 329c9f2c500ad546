// Limits that hold across every controller of a PostgreSQL store (docs/cluster.md, "Rate limits across
// controllers"): counted in the store's rate_counters, in windows of one minute aligned on the minute. On SQLite
// the one controller keeps its limits in memory and none of this is used.
//
// - Failed node-credential attempts per source: every failure adds one to the source's counter (one upsert), and
//   each attempt reads it (one indexed read): the limit holds in total, at the cost of a read per node call.
// - Discovery admissions per subnet sit on the DHCP path, which must not wait for the store: a controller claims
//   a block of admissions from the subnet's counter (never past the limit, in one transaction) and spends it from
//   memory, claiming the next block in the background when half is spent. A request that finds no admission left
//   while a claim is in flight is refused for now (a DHCP client retransmits; an HTTP request waits for the claim).
//   Every controller on a segment answers the same broadcast, so each admits the same unknown MAC: the one whose
//   host insert loses gives its admission back to its block, and a MAC counts once. Admissions a controller claimed
//   and did not spend lapse with their minute.
import type { Kysely } from 'kysely';
import { silentLogger, type Logger } from '../log/logger.js';
import type { RateTables } from './rate-tables.js';
import { addToCounter, claimFromCounter, pruneCounters, readCounter } from './sql-rate-store.js';

/** The window of every shared limit. */
const WINDOW_MS = 60_000;
/** Windows older than this many are deleted (by whichever controller counts, at most once a window). */
const KEEP_WINDOWS = 10;
/** Keys held in memory per quota (least recently used forgotten first). */
const MAX_KEYS = 10_000;

const iso = (ms: number) => new Date(ms).toISOString();
const windowOf = (t: number) => Math.floor(t / WINDOW_MS) * WINDOW_MS;
const secondsLeft = (t: number) => Math.max(1, Math.ceil((windowOf(t) + WINDOW_MS - t) / 1000));

interface SharedDeps {
  db: Kysely<RateTables>;
  /** The counter's name in the store. */
  limiter: string;
  /** What one key may count per minute. */
  limit: number;
  now?: () => number;
  log?: Logger;
}

/** Deletes old windows at most once a window (opportunistically, by the controller that is counting). */
function pruner(db: Kysely<RateTables>, log: Logger) {
  let last = 0;
  return (t: number) => {
    const w = windowOf(t);
    if (w === last) return;
    last = w;
    void pruneCounters(db, iso(w - KEEP_WINDOWS * WINDOW_MS)).catch((err: unknown) =>
      log.warn({ err: (err as Error).message }, 'rate limits: could not prune old windows'),
    );
  };
}

/** Failures per key per minute, counted in the store. */
export interface FailureCounter {
  /** Seconds until `key` may try again (its minute is full), 0 when it may. */
  blocked(key: string): Promise<number>;
  /** Counts one failure of `key`. */
  fail(key: string): Promise<void>;
}

/** A failure limit shared by every controller of the store (node credentials: per source address). */
export function storeFailureCounter(deps: SharedDeps): FailureCounter {
  const now = deps.now ?? Date.now;
  const log = deps.log ?? silentLogger;
  const prune = pruner(deps.db, log);
  return {
    async blocked(key) {
      const t = now();
      const n = await readCounter(deps.db, { limiter: deps.limiter, key, windowStart: iso(windowOf(t)) });
      return n >= deps.limit ? secondsLeft(t) : 0;
    },
    async fail(key) {
      const t = now();
      prune(t);
      await addToCounter(deps.db, { limiter: deps.limiter, key, windowStart: iso(windowOf(t)) }, 1);
    },
  };
}

/** What a quota answers: admitted, or not now (`pending`: a claim is in flight, try again soon) and for how long. */
export type QuotaAnswer = { ok: true } | { ok: false; pending: boolean; retryInSeconds: number };

/** Admissions per key per minute, claimed from the store in blocks and spent from memory. */
export interface AdmissionQuota {
  /** Spends one admission of `key` now, without waiting (the DHCP path). */
  take(key: string): QuotaAnswer;
  /** Resolves when the claim in flight for `key` (if any) has answered: then `take` says yes or no for good. */
  settled(key: string): Promise<void>;
  /** Gives one admission of `key` back to this controller's block (it made nothing: another controller did). */
  giveBack(key: string): void;
}

interface Held {
  window: number;
  left: number;
  /** The store had less room than asked for: no more this window. */
  full: boolean;
  claiming: Promise<void> | null;
}

/** A per-minute admission limit shared by every controller of the store (discovery: per subnet). */
export function storeAdmissionQuota(deps: SharedDeps & { block?: number }): AdmissionQuota {
  const now = deps.now ?? Date.now;
  const log = deps.log ?? silentLogger;
  const block = Math.max(1, deps.block ?? Math.min(100, Math.ceil(deps.limit / 10)));
  const prune = pruner(deps.db, log);
  const held = new Map<string, Held>();

  const current = (key: string, t: number): Held => {
    const w = windowOf(t);
    let h = held.get(key);
    if (!h || h.window !== w) {
      h = { window: w, left: 0, full: deps.limit <= 0, claiming: null };
      held.delete(key);
      if (held.size >= MAX_KEYS) held.delete(held.keys().next().value!);
      held.set(key, h);
    }
    return h;
  };

  const claim = (key: string, h: Held): void => {
    if (h.claiming || h.full) return;
    prune(now());
    h.claiming = claimFromCounter(
      deps.db,
      { limiter: deps.limiter, key, windowStart: iso(h.window) },
      block,
      deps.limit,
    )
      .then(
        (granted) => {
          h.left += granted;
          if (granted < block) h.full = true;
        },
        (err: unknown) => log.warn({ err: (err as Error).message, key }, 'rate limits: could not claim admissions'),
      )
      .finally(() => {
        h.claiming = null;
      });
  };

  return {
    take(key) {
      const t = now();
      const h = current(key, t);
      if (h.left > 0) {
        h.left--;
        if (h.left * 2 < block) claim(key, h);
        return { ok: true };
      }
      claim(key, h);
      return h.full && !h.claiming
        ? { ok: false, pending: false, retryInSeconds: secondsLeft(t) }
        : { ok: false, pending: true, retryInSeconds: 1 };
    },
    async settled(key) {
      await held.get(key)?.claiming;
    },
    giveBack(key) {
      const h = held.get(key);
      if (h && h.window === windowOf(now())) h.left++;
    },
  };
}

// Live events for one controller: one poller reads the events committed since
// its last position from the store (so every controller on a shared store sees
// every event, whoever wrote it) and fans them out in memory to subscribers.
// A subscriber that starts from an older position first catches up from the
// store, then joins the live feed without a gap or a repeat. Each subscriber's
// queue is bounded: a subscriber that falls behind is dropped, not buffered.
import type { KilnEvent } from './event.js';

/** Which events a subscriber wants: a kind prefix (`host.`, or a whole kind) and a host id. */
export interface StreamFilter {
  kindPrefix?: string | undefined;
  hostId?: string | undefined;
}

/** What the feed needs from the event log: events after a position, oldest first. */
export type ReadEvents = (q: { after?: number; limit: number } & StreamFilter) => Promise<KilnEvent[]>;

/** Timers, injected so tests run the poller by hand. */
export interface FeedTimers {
  setInterval(fn: () => void, ms: number): unknown;
  clearInterval(handle: unknown): void;
}

export interface EventFeedDeps {
  read: ReadEvents;
  /** Newest position in the store (0 when empty): where a subscriber without a position starts. */
  latest: () => Promise<number>;
  /** Poll interval while anyone subscribes (default 250 ms). */
  intervalMs?: number;
  /** Most events a subscriber may have queued before it is dropped (default 1000). */
  maxQueued?: number;
  /** Events read per query (default 500). */
  pageSize?: number;
  timers?: FeedTimers;
  /** Where a failed poll is reported (default: nowhere; the next tick retries). */
  onError?: (err: unknown) => void;
}

/** Why a subscription ended. */
export type EndReason = 'too_slow' | 'closed';

/** One subscriber's side: gets batches of events in position order, and once the end. */
export interface Subscriber {
  filter: StreamFilter;
  /** Start after this position (exclusive); undefined: from now. */
  after?: number | undefined;
  /** Takes events; they count as queued until the subscriber says `drained`. */
  deliver(events: KilnEvent[]): void;
  end(reason: EndReason): void;
}

/** A live subscription: `drained(n)` says n delivered events left the subscriber's queue; `close()` unsubscribes. */
export interface Subscription {
  drained(n: number): void;
  close(): void;
}

const matches = (f: StreamFilter, e: KilnEvent): boolean =>
  (!f.kindPrefix || e.kind.startsWith(f.kindPrefix)) && (!f.hostId || e.hostId === f.hostId);

interface Entry {
  sub: Subscriber;
  /** Last position handed to the subscriber (or skipped by its filter). */
  cursor: number;
  /** Catching up from the store: live batches wait here until it is done. */
  pending: KilnEvent[] | null;
  queued: number;
  done: boolean;
  /** Wakes a catch-up waiting for the queue to drain. */
  wake: (() => void) | null;
}

/** Creates a feed; it polls only while it has subscribers. */
export function createEventFeed(deps: EventFeedDeps) {
  const intervalMs = deps.intervalMs ?? 250;
  const maxQueued = deps.maxQueued ?? 1000;
  const pageSize = deps.pageSize ?? 500;
  const timers: FeedTimers = deps.timers ?? {
    setInterval: (fn, ms) => setInterval(fn, ms),
    clearInterval: (h) => clearInterval(h as NodeJS.Timeout),
  };
  const entries = new Set<Entry>();
  /** The last position the poller has read (null until the first subscriber starts it). */
  let head: number | null = null;
  let timer: unknown = null;
  let polling: Promise<void> | null = null;
  let closed = false;

  function finish(entry: Entry, reason: EndReason): void {
    if (entry.done) return;
    entry.done = true;
    entry.wake?.();
    entries.delete(entry);
    if (entries.size === 0 && timer !== null) {
      timers.clearInterval(timer);
      timer = null;
    }
    entry.sub.end(reason);
  }

  function hand(entry: Entry, events: KilnEvent[]): void {
    if (entry.done) return;
    const fresh = events.filter((e) => e.seq > entry.cursor);
    if (fresh.length === 0) return;
    entry.cursor = fresh.at(-1)!.seq;
    const wanted = fresh.filter((e) => matches(entry.sub.filter, e));
    if (wanted.length === 0) return;
    if (entry.queued + wanted.length > maxQueued) {
      finish(entry, 'too_slow');
      return;
    }
    entry.queued += wanted.length;
    entry.sub.deliver(wanted);
  }

  /** Reads everything committed after `head` and fans it out; one poll at a time. */
  async function pollOnce(): Promise<void> {
    if (head === null) head = await deps.latest();
    for (;;) {
      const batch = await deps.read({ after: head, limit: pageSize });
      if (batch.length === 0) return;
      head = batch.at(-1)!.seq;
      for (const entry of entries) {
        if (entry.pending) entry.pending.push(...batch);
        else hand(entry, batch);
      }
      if (batch.length < pageSize) return;
    }
  }

  /** A wake-up came during a poll: poll once more when it ends (the running one may have read before the commit). */
  let rerun = false;
  function poll(): Promise<void> {
    polling ??= pollOnce()
      .catch((err: unknown) => deps.onError?.(err))
      .finally(() => {
        polling = null;
        if (rerun) {
          rerun = false;
          void poll();
        }
      });
    return polling;
  }

  /** Something committed an event (a PostgreSQL notification): poll now rather than at the next tick, if anyone listens. */
  function wake(): void {
    if (closed || entries.size === 0) return;
    if (polling) rerun = true;
    else void poll();
  }

  async function catchUp(entry: Entry, from: number): Promise<void> {
    // Join the live feed first (its batches wait in `pending`), then read the store up to where the feed stood.
    if (head === null) head = await deps.latest();
    const until = head;
    entry.cursor = from;
    const room = Math.max(1, Math.floor(maxQueued / 2));
    while (!entry.done && entry.cursor < until) {
      while (!entry.done && entry.queued > maxQueued - room) {
        await new Promise<void>((resolve) => (entry.wake = resolve));
        entry.wake = null;
      }
      const page = await deps.read({ after: entry.cursor, limit: Math.min(pageSize, room), ...entry.sub.filter });
      const inRange = page.filter((e) => e.seq <= until);
      if (inRange.length === 0) break;
      hand(entry, inRange);
      if (page.length < Math.min(pageSize, room) || inRange.length < page.length) break;
    }
    if (entry.cursor < until) entry.cursor = until;
    const pending = entry.pending ?? [];
    entry.pending = null;
    hand(entry, pending);
  }

  return {
    /** Adds a subscriber; events arrive through `sub.deliver` from its position (or from now). */
    subscribe(sub: Subscriber): Subscription {
      const entry: Entry = { sub, cursor: Number.MAX_SAFE_INTEGER, pending: [], queued: 0, done: false, wake: null };
      if (closed) {
        entry.done = true;
        sub.end('closed');
      } else {
        entries.add(entry);
        timer ??= timers.setInterval(() => void poll(), intervalMs);
        const start = async () => {
          if (sub.after === undefined) {
            // From now: wait for any poll in flight, so that where the feed stands is where this one starts.
            await polling;
            if (head === null) head = await deps.latest();
            entry.cursor = head;
            const pending = entry.pending ?? [];
            entry.pending = null;
            hand(entry, pending);
          } else {
            await catchUp(entry, sub.after);
          }
        };
        start().catch((err: unknown) => {
          deps.onError?.(err);
          finish(entry, 'closed');
        });
      }
      return {
        drained: (n) => {
          entry.queued = Math.max(0, entry.queued - n);
          entry.wake?.();
        },
        close: () => finish(entry, 'closed'),
      };
    },
    /** Runs one poll now (tests; the timer does it otherwise). */
    poll,
    wake,
    /** How many subscribers are connected. */
    get size() {
      return entries.size;
    },
    /** Ends every subscription and stops polling. */
    close(): void {
      closed = true;
      for (const entry of [...entries]) finish(entry, 'closed');
    },
  };
}

/** A live event feed. */
export type EventFeed = ReturnType<typeof createEventFeed>;

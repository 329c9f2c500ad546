import { silentLogger, type Logger } from '../log/logger.js';
import type { NewEvent } from './event.js';

/** An event and when it happened (ISO time): the time it is written may be later. */
export interface TimedEvent {
  event: NewEvent;
  at: string;
}

export interface EventBatchDeps {
  /** Writes `batch` in one transaction, in order. */
  write: (batch: readonly TimedEvent[]) => Promise<void>;
  /** How long the first event of a batch waits for others (ms); default 100. */
  delayMs?: number;
  /** A batch this large is written without waiting out the window; default 1000. */
  maxBatch?: number;
  /** Events waiting beyond a write in progress; past it new ones are dropped and counted. */
  maxPending?: number;
  log?: Logger;
  now?: () => Date;
}

/**
 * Group commit for observation events (a boot stage seen, not a decision):
 * `add` returns at once; the first event opens a window of `delayMs`, and
 * every event added until it closes (or until `maxBatch` are waiting) is
 * written in one transaction; events added during a write go in the next
 * window. So an answer never waits for an fsync, and a storm of boots costs
 * about one fsync per window, not one per boot (better-sqlite3 fsyncs on the
 * event loop's thread: every commit stalls every answer). Only for events
 * whose loss in a crash loses no decision: a change of state and its event
 * are committed in one transaction before the answer (the inventory service
 * does that). A failed write is logged with the count of events lost.
 */
export function createEventBatch(deps: EventBatchDeps) {
  const log = deps.log ?? silentLogger;
  const now = deps.now ?? (() => new Date());
  const delayMs = deps.delayMs ?? 100;
  const maxBatch = deps.maxBatch ?? 1000;
  const maxPending = deps.maxPending ?? 10_000;
  let pending: TimedEvent[] = [];
  let dropped = 0;
  let writing: Promise<void> | null = null;
  let timer: NodeJS.Timeout | null = null;

  /** Opens the window for the waiting events, or writes now when the batch is full. */
  function schedule(): void {
    if (pending.length === 0 || writing) return;
    if (pending.length >= maxBatch) return pump();
    timer ??= setTimeout(pump, delayMs);
  }

  function pump(): void {
    if (timer) clearTimeout(timer);
    timer = null;
    if (writing || pending.length === 0) return;
    const batch = pending;
    pending = [];
    if (dropped > 0) {
      log.warn({ dropped }, 'events dropped (write queue full)');
      dropped = 0;
    }
    writing = deps
      .write(batch)
      .catch((err: unknown) =>
        log.warn({ err: (err as Error).message, lost: batch.length }, 'events lost: write failed'),
      )
      .finally(() => {
        writing = null;
        schedule();
      });
  }

  return {
    /** Queues `event`, stamped now, for the current window. Never throws, never waits. */
    add(event: NewEvent): void {
      if (pending.length >= maxPending) {
        dropped++;
        return;
      }
      pending.push({ event, at: now().toISOString() });
      schedule();
    },
    /** Writes what is waiting now and resolves when every event added so far is written (or its loss logged). */
    async flush(): Promise<void> {
      while (writing || pending.length > 0) {
        pump();
        await writing;
      }
    },
  };
}

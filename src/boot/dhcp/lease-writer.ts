import type { Lease, LeasePutResult, LeaseStore } from './lease-store.js';

/** Queues lease writes and commits them in groups. */
export interface LeaseWriter {
  /** Resolves once the lease is durable (or refused as a conflict); never before the commit. */
  put(lease: Lease): Promise<LeasePutResult>;
  /** Resolves when every queued write has been committed. */
  drain(): Promise<void>;
}

/**
 * Group commit: writes that arrive while a transaction is running wait for
 * the next one, so under load one fsync covers many ACKs, and when idle a
 * write commits at once. At most `maxBatch` writes go in one transaction, and
 * with `intervalMs` > 0 at most one transaction starts per `intervalMs` while
 * writes keep coming.
 */
export function createLeaseWriter(store: LeaseStore, now: () => number, maxBatch: number, intervalMs = 0): LeaseWriter {
  let queue: Array<{ lease: Lease; resolve(r: LeasePutResult): void; reject(e: unknown): void }> = [];
  let running: Promise<void> | undefined;
  let lastStart = -Infinity;

  async function run(): Promise<void> {
    while (queue.length > 0) {
      // Under a steady stream, one commit at most every `intervalMs` (unless a full batch waits): each fsync
      // then covers more ACKs, so fewer bytes are written per ACK (a commit writes whole 4 KiB pages) for
      // at most `intervalMs` more before an ACK. After a quiet spell the first write commits at once.
      const wait = lastStart + intervalMs - performance.now();
      if (wait > 0 && queue.length < maxBatch) await new Promise<void>((r) => setTimeout(r, wait));
      lastStart = performance.now();
      const batch = queue.slice(0, maxBatch);
      queue = queue.slice(batch.length);
      try {
        const results = await store.putMany(
          batch.map((b) => b.lease),
          now(),
        );
        batch.forEach((b, i) => b.resolve(results[i]));
      } catch (err) {
        for (const b of batch) b.reject(err);
      }
    }
  }

  function kick(): void {
    if (running) return;
    running = (async () => {
      // Yield once so writes from datagrams already queued in this event-loop turn join the first batch.
      await new Promise<void>((r) => setImmediate(r));
      await run();
    })().finally(() => {
      running = undefined;
      if (queue.length > 0) kick();
    });
  }

  return {
    put(lease) {
      return new Promise((resolve, reject) => {
        queue.push({ lease, resolve, reject });
        kick();
      });
    },
    async drain() {
      while (running) await running;
    },
  };
}

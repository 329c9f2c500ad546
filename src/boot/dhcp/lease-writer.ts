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
 * write commits at once. At most `maxBatch` writes go in one transaction.
 */
export function createLeaseWriter(store: LeaseStore, now: () => number, maxBatch: number): LeaseWriter {
  let queue: Array<{ lease: Lease; resolve(r: LeasePutResult): void; reject(e: unknown): void }> = [];
  let running: Promise<void> | undefined;

  async function run(): Promise<void> {
    while (queue.length > 0) {
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

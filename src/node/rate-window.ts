import type { FailureCounter } from '../ratelimit/shared-limits.js';

/**
 * Counts failures per key (source address) in a sliding window; `blocked`
 * says when a key has reached the limit. Memory is bounded: old entries are
 * dropped on every call, and at most `maxKeys` keys are tracked.
 */
function createRateWindow(opts: { limit: number; windowMs: number; now?: () => number; maxKeys?: number }) {
  const hits = new Map<string, number[]>();
  const now = opts.now ?? Date.now;
  const maxKeys = opts.maxKeys ?? 10_000;
  const fresh = (key: string): number[] => {
    const t = now();
    const list = (hits.get(key) ?? []).filter((x) => t - x < opts.windowMs);
    if (list.length) hits.set(key, list);
    else hits.delete(key);
    return list;
  };
  return {
    /** Seconds until `key` may try again, or 0 when it is not blocked. */
    blocked(key: string): number {
      const list = fresh(key);
      if (list.length < opts.limit) return 0;
      return Math.max(1, Math.ceil((list[0] + opts.windowMs - now()) / 1000));
    },
    fail(key: string): void {
      const list = fresh(key);
      if (!hits.has(key) && hits.size >= maxKeys) hits.delete(hits.keys().next().value!);
      hits.set(key, [...list, now()]);
    },
  };
}

/** Failed attempts per key per minute (sliding), in this controller's memory: one controller on its store (SQLite). */
export function memoryFailures(limit: number, now: () => number): FailureCounter {
  const w = createRateWindow({ limit, windowMs: 60_000, now });
  return {
    blocked: async (key) => w.blocked(key),
    fail: async (key) => w.fail(key),
  };
}

/**
 * Boots that completed recently, for admission control (src/power/admission.ts): how many complete per second
 * and how long the quickest recent one took. Together they bound the boots worth having in progress at once
 * (Little's law: in progress = completions per second × time per boot); more than that only queues. A bounded
 * ring, filled in completion order; pure apart from the caller's clock.
 */
export interface CompletionSummary {
  /** Boots completed since the log was made. */
  total: number;
  /** Completions per second over the last `rateSpanMs`. */
  perSecond: number;
  /** The shortest boot completed in the last `minSpanMs`, or null when none completed then. */
  minMs: number | null;
}

export interface CompletionLog {
  add(at: number, durationMs: number): void;
  summary(now: number): CompletionSummary;
}

export interface CompletionLogOptions {
  /** Completions remembered (the oldest is forgotten first). */
  capacity: number;
  rateSpanMs: number;
  minSpanMs: number;
}

export const defaultCompletionLog: CompletionLogOptions = { capacity: 8192, rateSpanMs: 30_000, minSpanMs: 600_000 };

export function createCompletionLog(o: CompletionLogOptions = defaultCompletionLog): CompletionLog {
  const at = new Float64Array(o.capacity);
  const ms = new Float64Array(o.capacity);
  let next = 0;
  let total = 0;
  return {
    add(when, durationMs) {
      at[next] = when;
      ms[next] = Math.max(0, durationMs);
      next = (next + 1) % o.capacity;
      total++;
    },
    summary(now) {
      let inRate = 0;
      let minMs: number | null = null;
      const held = Math.min(total, o.capacity);
      // Newest first: stop at the first entry older than both spans (the ring is in completion order).
      for (let k = 1; k <= held; k++) {
        const i = (next - k + o.capacity) % o.capacity;
        const age = now - at[i];
        if (age > o.rateSpanMs && age > o.minSpanMs) break;
        if (age <= o.rateSpanMs) inRate++;
        if (age <= o.minSpanMs && (minMs === null || ms[i] < minMs)) minMs = ms[i];
      }
      return { total, perSecond: (inRate * 1000) / o.rateSpanMs, minMs };
    },
  };
}

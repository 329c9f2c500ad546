/**
 * Boots that completed recently, for admission control (src/power/admission.ts): how many complete per second
 * and how long the quickest recent one took. Together they bound the boots worth having in progress at once
 * (Little's law: in progress = completions per second × time per boot); more than that only queues. A bounded
 * ring, filled in completion order; pure apart from the caller's clock. Completions per second are counted over
 * twice the quickest boot (at least `rateSpanMs`, at most `minSpanMs`), so a site whose boots take minutes (an
 * installer) is not judged by the last ten seconds.
 */
export interface CompletionSummary {
  /** Boots completed since the log was made. */
  total: number;
  /** Completions per second over the rate span (twice the quickest boot, within `rateSpanMs` … `minSpanMs`). */
  perSecond: number;
  /** The shortest boot completed in the last `minSpanMs`, or null when none completed then. */
  minMs: number | null;
  /** The median boot of those counted in the rate span, or null when there are none. */
  medianMs: number | null;
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

export const defaultCompletionLog: CompletionLogOptions = { capacity: 8192, rateSpanMs: 10_000, minSpanMs: 600_000 };

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
      const held = Math.min(total, o.capacity);
      const at_ = (k: number) => (next - k + o.capacity) % o.capacity;
      // Newest first; the ring is in completion order, so stop at the first entry past the span.
      let minMs: number | null = null;
      for (let k = 1; k <= held; k++) {
        const i = at_(k);
        if (now - at[i] > o.minSpanMs) break;
        if (minMs === null || ms[i] < minMs) minMs = ms[i];
      }
      const span = Math.min(o.minSpanMs, Math.max(o.rateSpanMs, 2 * (minMs ?? 0)));
      let inRate = 0;
      for (let k = 1; k <= held && now - at[at_(k)] <= span; k++) inRate++;
      const recent = new Float64Array(inRate);
      for (let k = 1; k <= inRate; k++) recent[k - 1] = ms[at_(k)];
      recent.sort();
      const medianMs = inRate === 0 ? null : recent[(inRate - 1) >> 1];
      return { total, perSecond: (inRate * 1000) / span, minMs, medianMs };
    },
  };
}

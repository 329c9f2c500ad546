import { monitorEventLoopDelay, type IntervalHistogram } from 'node:perf_hooks';

/**
 * How late this thread's event loop has been: a histogram of timer lateness
 * (perf_hooks), read and reset by each `sinceLast()`. Admission control reads
 * it: a loop that runs late answers DHCP and HTTP late, before any queue of
 * Kiln's own fills (datagrams wait in the kernel's socket buffer meanwhile).
 */
export interface LoopDelay {
  /** The 90th percentile of the loop's delay (ms) since the previous call (or since start); 0 before any sample. */
  sinceLast(): number;
  close(): void;
}

export function watchLoopDelay(resolutionMs = 10): LoopDelay {
  const h: IntervalHistogram = monitorEventLoopDelay({ resolution: resolutionMs });
  h.enable();
  return {
    sinceLast() {
      // The histogram counts the lateness over `resolution`; with no sample yet it reports NaN or 0.
      const p = h.count > 0 ? h.percentile(90) / 1e6 : 0;
      h.reset();
      return Number.isFinite(p) ? Math.max(0, p - resolutionMs) : 0;
    },
    close: () => h.disable(),
  };
}

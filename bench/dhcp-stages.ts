// Where the DHCP server's time goes per answered datagram (dhcp-server.ts `onTiming`), with what else the
// process did meanwhile: GC pauses (PerformanceObserver), event-loop delay (a 1 ms timer's lateness) and,
// per thread, the time it was runnable but waiting for a core (proc(5) /proc/self/task/*/schedstat, field 2).
// Used by bench/dhcp-server-process.ts when KILN_DHCP_STAGES=1; `summary()` is one line of JSON.
import { readdirSync, readFileSync } from 'node:fs';
import { monitorEventLoopDelay, PerformanceObserver, type PerformanceEntry } from 'node:perf_hooks';
import type { DhcpTiming } from '../src/boot/dhcp/dhcp-server.js';

/** Per thread id: CPU time run and time waiting on a run queue (ns), and its name (proc(5) schedstat, comm). */
function schedByTid(): Map<string, { name: string; run: number; wait: number }> {
  const out = new Map<string, { name: string; run: number; wait: number }>();
  for (const tid of readdirSync('/proc/self/task')) {
    try {
      const [run, wait] = readFileSync(`/proc/self/task/${tid}/schedstat`, 'utf8').split(' ').map(Number);
      out.set(tid, { name: readFileSync(`/proc/self/task/${tid}/comm`, 'utf8').trim(), run: run!, wait: wait! });
    } catch {
      /* the thread ended */
    }
  }
  return out;
}

/** Run-queue wait (ns) of each thread of this process, by thread name (threads of one name summed). */
function runDelayByThread(): Record<string, number> {
  const out: Record<string, number> = {};
  for (const tid of readdirSync('/proc/self/task')) {
    try {
      const comm = readFileSync(`/proc/self/task/${tid}/comm`, 'utf8').trim();
      const wait = Number(readFileSync(`/proc/self/task/${tid}/schedstat`, 'utf8').split(' ')[1]);
      out[comm] = (out[comm] ?? 0) + wait;
    } catch {
      /* the thread ended */
    }
  }
  return out;
}

const pct = (xs: number[], p: number): number => {
  if (!xs.length) return NaN;
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.floor((p / 100) * s.length))]!;
};
const r2 = (n: number) => Math.round(n * 100) / 100;

/** A recorder: `record` is the server's `onTiming`; `summary()` once at the end. */
export function createStageRecorder(slowMs = 10) {
  const byType = new Map<number, DhcpTiming[]>();
  const gcs: Array<{ at: number; ms: number; kind: number }> = [];
  const obs = new PerformanceObserver((list) => {
    for (const e of list.getEntries() as Array<PerformanceEntry & { detail?: { kind?: number } }>)
      gcs.push({ at: e.startTime, ms: e.duration, kind: e.detail?.kind ?? 0 });
  });
  obs.observe({ entryTypes: ['gc'] });
  const loop = monitorEventLoopDelay({ resolution: 1 });
  let first = NaN;
  let wait0: Record<string, number> = {};
  // Every 100 ms: each thread's run and wait so far, so a slow window shows whether the main thread ran (own work)
  // or waited for the core (something else ran), and which of this process's threads ran.
  const samples: Array<{ at: number; threads: ReturnType<typeof schedByTid> }> = [];
  let sampler: NodeJS.Timeout | undefined;
  const mainTid = String(process.pid);
  /** What the threads did between the samples around [from, to) (ms since the first datagram). */
  const threadsIn = (from: number, to: number) => {
    const a = [...samples].reverse().find((s) => s.at - first <= from) ?? samples[0];
    const b = samples.find((s) => s.at - first >= to) ?? samples[samples.length - 1];
    if (!a || !b || a === b) return undefined;
    const ms = (ns: number) => r2(ns / 1e6);
    let otherRun = 0;
    const ran: Record<string, number> = {};
    for (const [tid, t] of b.threads) {
      if (tid === mainTid) continue;
      const before = a.threads.get(tid);
      const d = t.run - (before?.run ?? 0);
      otherRun += d;
      if (d > 1e6) ran[`${t.name}${before ? '' : ' (new)'}`] = ms((ran[t.name] ?? 0) * 1e6 + d);
    }
    const m0 = a.threads.get(mainTid)!,
      m1 = b.threads.get(mainTid)!;
    return {
      spanMs: r2(b.at - a.at),
      mainRunMs: ms(m1.run - m0.run),
      mainWaitMs: ms(m1.wait - m0.wait),
      otherThreadsRunMs: ms(otherRun),
      ran,
    };
  };
  return {
    record(t: DhcpTiming): void {
      if (Number.isNaN(first)) {
        first = t.receivedAt;
        wait0 = runDelayByThread();
        loop.enable();
        samples.push({ at: performance.now(), threads: schedByTid() });
        sampler = setInterval(() => samples.push({ at: performance.now(), threads: schedByTid() }), 100);
      }
      let xs = byType.get(t.messageType);
      if (!xs) byType.set(t.messageType, (xs = []));
      xs.push(t);
    },
    summary(): string {
      loop.disable();
      obs.disconnect();
      clearInterval(sampler);
      const wait1 = runDelayByThread();
      const stage = (xs: DhcpTiming[], k: keyof DhcpTiming) => {
        const v = xs.map((x) => x[k]);
        return [r2(pct(v, 50)), r2(pct(v, 99)), r2(Math.max(...v))];
      };
      const types = Object.fromEntries(
        [...byType].map(([type, xs]) => [
          type === 1 ? 'DISCOVER' : type === 3 ? 'REQUEST' : String(type),
          {
            n: xs.length,
            'queued p50/p99/max': stage(xs, 'queuedMs'),
            'decided p50/p99/max': stage(xs, 'decidedMs'),
            'committed p50/p99/max': stage(xs, 'committedMs'),
            'total p50/p99/max': stage(xs, 'totalMs'),
          },
        ]),
      );
      // Slow OFFERs by 100 ms window of their arrival, with the GC time that began in the window.
      const slow = (byType.get(1) ?? []).filter((t) => t.totalMs > slowMs);
      const windows = new Map<number, { n: number; worst: number; queued: number }>();
      for (const t of slow) {
        const k = Math.floor((t.receivedAt - first) / 100);
        const w = windows.get(k) ?? { n: 0, worst: 0, queued: 0 };
        w.n++;
        w.worst = Math.max(w.worst, t.totalMs);
        w.queued = Math.max(w.queued, t.queuedMs);
        windows.set(k, w);
      }
      const gcIn = (k: number) =>
        r2(
          gcs
            .filter((g) => g.at - first >= k * 100 - 100 && g.at - first < k * 100 + 100)
            .reduce((s, g) => s + g.ms, 0),
        );
      const top = [...windows]
        .sort((a, b) => b[1].n - a[1].n)
        .slice(0, 8)
        .map(([k, w]) => ({
          at_s: k / 10,
          n: w.n,
          worst: r2(w.worst),
          maxQueued: r2(w.queued),
          gcMsNear: gcIn(k),
          threads: threadsIn(k * 100 - 100, k * 100 + 100),
        }));
      const inRun = gcs.filter((g) => g.at >= first);
      const gcKinds: Record<string, { n: number; ms: number; max: number }> = {};
      for (const g of inRun) {
        const name =
          { 1: 'scavenge', 2: 'minor-mc', 4: 'mark-compact', 8: 'incremental', 16: 'weak-cb' }[g.kind] ??
          String(g.kind);
        const k = (gcKinds[name] ??= { n: 0, ms: 0, max: 0 });
        k.n++;
        k.ms = r2(k.ms + g.ms);
        k.max = r2(Math.max(k.max, g.ms));
      }
      const waitMs = Object.fromEntries(
        Object.entries(wait1).map(([name, ns]) => [name, r2((ns - (wait0[name] ?? 0)) / 1e6)]),
      );
      return JSON.stringify({
        types,
        [`OFFERs over ${slowMs} ms (server side)`]: slow.length,
        slowWindows: top,
        gc: gcKinds,
        'loop delay ms p50/p99/p99.9/max': [
          loop.percentile(50),
          loop.percentile(99),
          loop.percentile(99.9),
          loop.max,
        ].map((n) => r2(n / 1e6)),
        'run-queue wait ms by thread name': waitMs,
        'whole run': threadsIn(0, Infinity),
      });
    },
  };
}

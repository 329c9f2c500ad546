// Event-loop probe for benches (not part of Kiln): loaded into a controller with
// `--node-flags=--import=<this file>`, it prints to stdout (main thread only):
// - once a second, the loop delay's p50/p99/max (perf_hooks, 1 ms resolution), the
//   GC pauses, and the main thread's time on the CPU and waiting for it
//   (/proc/self/task/<pid>/schedstat: run and run-queue wait, ns), and the CPU time of
//   the process's other threads (workers, V8's GC helpers), which share a pinned core,
//   the heap in use, and the bytes allocated (estimated from the young generation's growth);
// - one line for every run of the loop longer than KILN_PROBE_STALL_MS (default 8),
//   split into GC, the thread's own run time, and its wait for the CPU (another
//   thread or process on the core), so a tail can be told from the machine's load.
import { openSync, readdirSync, readFileSync, readSync } from 'node:fs';
import { monitorEventLoopDelay, PerformanceObserver, performance } from 'node:perf_hooks';
import { getHeapSpaceStatistics } from 'node:v8';
import { isMainThread } from 'node:worker_threads';

if (isMainThread) {
  const STALL_MS = Number(process.env.KILN_PROBE_STALL_MS ?? 8);
  const h = monitorEventLoopDelay({ resolution: 1 });
  h.enable();
  const gcs = [];
  const kinds = { 1: 'scavenge', 2: 'mark-compact', 4: 'incremental', 8: 'weak-cb', 16: 'minor-mc' };
  new PerformanceObserver((list) => {
    for (const e of list.getEntries())
      gcs.push({ at: e.startTime + e.duration, ms: e.duration, kind: kinds[e.detail?.kind] ?? String(e.detail?.kind) });
    if (gcs.length > 4000) gcs.splice(0, gcs.length - 4000);
  }).observe({ entryTypes: ['gc'] });
  const fd = openSync(`/proc/self/task/${process.pid}/schedstat`, 'r');
  const buf = Buffer.alloc(128);
  /** [ms on the CPU, ms runnable but waiting for it] of the main thread so far. */
  const sched = () => {
    const n = readSync(fd, buf, 0, 128, 0);
    const [run, wait] = buf.toString('latin1', 0, n).split(' ');
    return [Number(run) / 1e6, Number(wait) / 1e6];
  };
  /** ms on the CPU of this process's other threads (workers, V8's GC helpers, libuv's pool) so far. */
  const byThread = new Map();
  const others = () => {
    let ms = 0;
    for (const tid of readdirSync('/proc/self/task')) {
      if (tid === String(process.pid)) continue;
      try {
        const t = Number(readFileSync(`/proc/self/task/${tid}/schedstat`, 'latin1').split(' ')[0]) / 1e6;
        const name = readFileSync(`/proc/self/task/${tid}/comm`, 'latin1').trim();
        const was = byThread.get(tid);
        byThread.set(tid, { name, t, delta: was ? t - was.t : 0 });
        ms += t;
      } catch {
        // the thread ended meanwhile
      }
    }
    return ms;
  };
  /** The other threads' CPU time in the last second by thread name (ms), largest first. */
  const busiest = () => {
    const sum = new Map();
    for (const { name, delta } of byThread.values()) sum.set(name, (sum.get(name) ?? 0) + delta);
    return [...sum]
      .filter(([, ms]) => ms >= 1)
      .sort((a, b) => b[1] - a[1])
      .map(([name, ms]) => `${name}:${ms.toFixed(0)}`)
      .join(',');
  };
  let othersLast = others();
  // Bytes allocated, estimated: the young generation's growth between ticks (a tick that spans a scavenge adds
  // nothing, so this undercounts by up to one tick's allocation per scavenge).
  const young = () => getHeapSpaceStatistics().find((x) => x.space_name === 'new_space');
  let youngLast = young().space_used_size;
  let allocated = 0;
  let last = performance.now();
  let lastS = sched();
  const stalls = { n: 0, ms: 0, gc: 0, run: 0, wait: 0 };
  const tick = () => {
    const now = performance.now();
    const s = sched();
    const gap = now - last;
    const used = young().space_used_size;
    if (used > youngLast) allocated += used - youngLast;
    youngLast = used;
    if (gap > STALL_MS + 2) {
      const inside = gcs.filter((g) => g.at >= last && g.at <= now);
      const gcMs = inside.reduce((a, g) => a + g.ms, 0);
      const run = s[0] - lastS[0];
      const wait = s[1] - lastS[1];
      stalls.n++;
      stalls.ms += gap;
      stalls.gc += gcMs;
      stalls.run += run;
      stalls.wait += wait;
      process.stdout.write(
        `PROBE stall ${gap.toFixed(1)} ms at ${(now / 1000).toFixed(3)} s: run ${run.toFixed(1)} wait ${wait.toFixed(1)} gc ${gcMs.toFixed(1)} ms ${inside.map((g) => `${g.kind}:${g.ms.toFixed(1)}`).join(',')}\n`,
      );
    }
    last = now;
    lastS = s;
    setTimeout(tick, 2).unref();
  };
  setTimeout(tick, 2).unref();

  let gcSeen = 0;
  let secS = sched();
  setInterval(() => {
    const fresh = gcs.slice(gcSeen);
    gcSeen = gcs.length;
    const gcMs = fresh.reduce((a, g) => a + g.ms, 0);
    const gcMax = fresh.reduce((a, g) => Math.max(a, g.ms), 0);
    const s = sched();
    const o = others();
    process.stdout.write(
      `PROBE second ${(performance.now() / 1000).toFixed(0)} s: delay p50 ${(h.percentile(50) / 1e6).toFixed(2)} p99 ${(h.percentile(99) / 1e6).toFixed(2)} max ${(h.max / 1e6).toFixed(2)} ms; gc ${fresh.length} pauses ${gcMs.toFixed(1)} ms max ${gcMax.toFixed(1)} ms; main thread run ${(s[0] - secS[0]).toFixed(0)} ms wait ${(s[1] - secS[1]).toFixed(0)} ms; other threads run ${(o - othersLast).toFixed(0)} ms [${busiest()}]; heap ${(process.memoryUsage().heapUsed / 1048576).toFixed(0)} MiB; young ${(young().space_size / 1048576).toFixed(0)} MiB; allocated ${(allocated / 1048576).toFixed(0)} MiB; stalls ${stalls.n} ${stalls.ms.toFixed(0)} ms (gc ${stalls.gc.toFixed(0)} run ${stalls.run.toFixed(0)} wait ${stalls.wait.toFixed(0)})\n`,
    );
    secS = s;
    othersLast = o;
    allocated = 0;
    Object.assign(stalls, { n: 0, ms: 0, gc: 0, run: 0, wait: 0 });
    gcSeen = Math.min(gcSeen, gcs.length);
    h.reset();
  }, 1000).unref();
}

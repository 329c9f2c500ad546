import type { Clock } from './clock.js';
import {
  adjust,
  booting,
  congestion,
  initialAdmission,
  mayLaunch,
  rateWaitMs,
  windowLimit,
  unseenLaunches,
  burstOf,
  type AdmissionRules,
  type AdmissionState,
  type HeadroomSample,
} from './admission.js';

/** One batch's admission: each power-on first waits for `acquire`. */
export interface AdmissionGate {
  /** Resolves when one more machine may be powered on (FIFO across callers); at most `maxWaitMs` per call. */
  acquire(): Promise<void>;
  /** What the batch saw: the window now and at its largest, cuts and their last reason, waits. */
  stats(): AdmissionStats;
}

export interface AdmissionStats {
  window: number;
  maxWindow: number;
  /** Power-ons per second allowed when the batch ended, and at most. */
  rate: number;
  maxRate: number;
  cuts: number;
  lastCut: string | null;
  waitedMs: number;
  /** Launches let through after `maxWaitMs` without headroom (so a batch never stops for good). */
  forced: number;
}

export interface AdmissionGateOptions {
  /** The data plane now; the gate stamps each sample with its own clock, so samples and launches share one time base. */
  sample(): Omit<HeadroomSample, 'at'>;
  clock: Clock;
  rules: AdmissionRules;
  /** How often the data plane is sampled while a launch waits. */
  intervalMs: number;
  maxWaitMs: number;
  onCut?: (reason: string, window: number) => void;
  /**
   * Called at most once per `progressEveryMs` while launches wait, with what holds them: an operator's view of a
   * long batch (the controller logs it), and the trace a storm bench reads.
   */
  onProgress?: (p: AdmissionProgress) => void;
  progressEveryMs?: number;
}

/** One look at a waiting batch: launches so far, what the data plane shows, and the bounds that apply now. */
export interface AdmissionProgress {
  launched: number;
  booting: number;
  window: number;
  rate: number;
  loading: number | null;
  waiting: number | null;
  slots: number | null;
  congested: string | null;
}

export function createAdmissionGate(o: AdmissionGateOptions): AdmissionGate {
  let st: AdmissionState = initialAdmission(o.rules);
  let prev: HeadroomSample | null = null;
  /** Launches of the last launchGraceMs: when, and the timeline's sessions opened by then (oldest first). */
  const launches: { at: number; started: number }[] = [];
  let tail: Promise<void> = Promise.resolve();
  // The rate's token bucket: refilled at `st.rate` per second up to a quarter second's worth (burstOf).
  let tokens = burstOf(st);
  let refilledAt = o.clock.now();
  const refill = (now: number): void => {
    tokens = Math.min(burstOf(st), tokens + ((now - refilledAt) * st.rate) / 1000);
    refilledAt = now;
  };
  const stats: AdmissionStats = {
    window: st.window,
    maxWindow: st.window,
    rate: st.rate,
    maxRate: st.rate,
    cuts: 0,
    lastCut: null,
    waitedMs: 0,
    forced: 0,
  };

  /** Launches of the last launchGraceMs that the timeline has not shown yet. */
  const recent = (s: HeadroomSample): number => {
    while (launches.length > 0 && s.at - launches[0].at >= o.rules.launchGraceMs) launches.shift();
    return unseenLaunches(
      launches.map((l) => l.started),
      s,
    );
  };

  let launched = 0;
  let progressAt = -Infinity;
  const progress = (s: HeadroomSample, unseen: number): void => {
    if (!o.onProgress || s.at - progressAt < (o.progressEveryMs ?? 5_000)) return;
    progressAt = s.at;
    o.onProgress({
      launched,
      booting: booting(s, unseen),
      window: stats.window,
      rate: Math.round(st.rate),
      loading: s.room?.loading ?? null,
      waiting: s.room?.waiting ?? null,
      slots: s.room?.slots ?? null,
      congested: congestion(null, s, o.rules),
    });
  };

  /** One sample and the state after it, with the launches the timeline has not seen yet. */
  function step(): { s: HeadroomSample; unseen: number } {
    const s: HeadroomSample = { ...o.sample(), at: o.clock.now() };
    const unseen = recent(s);
    const next = adjust(st, prev, s, unseen, o.rules);
    if (next.cutAt !== st.cutAt) {
      stats.cuts++;
      stats.lastCut = next.lastCut;
      o.onCut?.(next.lastCut ?? '', next.window);
    }
    st = next;
    prev = s;
    stats.window = windowLimit(st, s, o.rules);
    stats.maxWindow = Math.max(stats.maxWindow, stats.window);
    stats.rate = st.rate;
    stats.maxRate = Math.max(stats.maxRate, st.rate);
    progress(s, unseen);
    return { s, unseen };
  }

  async function one(): Promise<void> {
    const start = o.clock.now();
    for (;;) {
      const { s, unseen } = step();
      refill(s.at);
      if (mayLaunch(st, s, unseen, o.rules, tokens)) break;
      if (o.clock.now() - start >= o.maxWaitMs) {
        stats.forced++;
        break;
      }
      // Held by the rate alone: sleep just until the next token; otherwise sample again later.
      const held = mayLaunch(st, s, unseen, o.rules);
      const wait = held ? Math.max(1, Math.ceil(rateWaitMs(st, tokens))) : o.intervalMs;
      await o.clock.sleep(Math.min(wait, o.intervalMs));
    }
    stats.waitedMs += o.clock.now() - start;
    tokens = Math.max(0, tokens - 1);
    launched++;
    launches.push({ at: o.clock.now(), started: prev?.bootsStarted ?? 0 });
  }

  return {
    acquire() {
      const mine = tail.then(one);
      tail = mine;
      return mine;
    },
    stats: () => ({ ...stats }),
  };
}

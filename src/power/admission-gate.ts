import type { Clock } from './clock.js';
import {
  adjust,
  initialAdmission,
  mayLaunch,
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
}

export function createAdmissionGate(o: AdmissionGateOptions): AdmissionGate {
  let st: AdmissionState = initialAdmission(o.rules);
  let prev: HeadroomSample | null = null;
  const launches: number[] = [];
  let tail: Promise<void> = Promise.resolve();
  const stats: AdmissionStats = {
    window: st.window,
    maxWindow: st.window,
    cuts: 0,
    lastCut: null,
    waitedMs: 0,
    forced: 0,
  };

  const recent = (now: number): number => {
    while (launches.length > 0 && now - launches[0] >= o.rules.launchGraceMs) launches.shift();
    return launches.length;
  };

  function step(): HeadroomSample {
    const s: HeadroomSample = { ...o.sample(), at: o.clock.now() };
    const next = adjust(st, prev, s, recent(s.at), o.rules);
    if (next.cutAt !== st.cutAt) {
      stats.cuts++;
      stats.lastCut = next.lastCut;
      o.onCut?.(next.lastCut ?? '', next.window);
    }
    st = next;
    prev = s;
    stats.window = st.window;
    stats.maxWindow = Math.max(stats.maxWindow, st.window);
    return s;
  }

  async function one(): Promise<void> {
    const start = o.clock.now();
    for (;;) {
      const s = step();
      if (mayLaunch(st, s, recent(s.at), o.rules)) break;
      if (o.clock.now() - start >= o.maxWaitMs) {
        stats.forced++;
        break;
      }
      await o.clock.sleep(o.intervalMs);
    }
    stats.waitedMs += o.clock.now() - start;
    launches.push(o.clock.now());
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

/**
 * The boot waiting room (issue 17: a whole row powered on at once, no power queue in front of it).
 *
 * At most `maxLoading` machines load a kernel and initrd from this controller at a time. Past that, a machine whose
 * per-host script would load one gets a wait script instead: iPXE shows its place in the queue, sleeps and asks
 * again. That is the cheapest place a machine can wait: one small request every few seconds, no socket held open and
 * no firmware timer running out. Meanwhile the machines already loading get the bandwidth and finish. Without it,
 * 10 000 machines loaded at once, each transfer got a ten-thousandth of the link, and the controller fell so far
 * behind that chain scripts, iPXE binaries and new connections timed out (3 557 of 10 000 failed,
 * `docs/bench-logs/boot-storm-10000-at-once-leased-2026-12-07.txt`).
 *
 * Fairness: a waiting machine holds a ticket in arrival order, and a free slot goes to the first waiters (rank below
 * the number of free slots), so a machine that asks at the wrong moments is not passed over for ever. Its next
 * question is timed from its rank and the recent rate of finished loads: 1 s at the head of the queue, at most
 * `maxDelaySeconds` further back.
 *
 * While the stages that race firmware timers are under pressure (the caller says: DHCP's queue, TFTP at its transfer
 * limit), no new load starts: a machine in the waiting room has no timer, one in its firmware's TFTP has seconds.
 *
 * A slot is freed when the machine's initrd (or a failed kernel) is seen, or `holdMs` after it was given (a machine
 * that died loading, or loaded from another controller). Pure: time is passed in.
 */

export interface LoadingGateRules {
  /** Machines loading at once; 0: no limit (every machine is let through). */
  maxLoading: number;
  /** A slot not freed by then is taken back. */
  holdMs: number;
  /** The longest wait between a queued machine's questions, in seconds (iPXE's `sleep` takes whole seconds). */
  maxDelaySeconds: number;
  /** A queued machine not heard from for this long has left the queue. */
  forgetMs: number;
}

export const defaultLoadingGateRules: LoadingGateRules = {
  maxLoading: 256,
  holdMs: 300_000,
  // Under half the kernel stage's 60 s deadline: a queued host asking this often is never 'late' (admission.ts).
  maxDelaySeconds: 20,
  forgetMs: 120_000,
};

/** Let through, or wait: the machine's place (1 = next), the queue's length, and when to ask again. */
export type GateAnswer =
  { admit: true } | { admit: false; position: number; waiting: number; loading: number; delaySeconds: number };

export interface LoadingGateStats {
  loading: number;
  waiting: number;
  /** Loads finished per second over the last `RATE_WINDOW_MS`. */
  finishedPerS: number;
  /** Slots taken back after `holdMs` since the gate was made. */
  expired: number;
}

/** Finished loads are counted over this window for the delay estimate. */
const RATE_WINDOW_MS = 30_000;
/** Queued machines are swept for ones that left at most this often. */
const SWEEP_EVERY_MS = 1_000;

export function createLoadingGate(rules: LoadingGateRules) {
  /** Machine → when its slot was given (Map order is grant order: the oldest first, for expiry). */
  const loading = new Map<string, number>();
  /** Machine → its ticket and when it last asked. */
  const waiting = new Map<string, { ticket: number; lastAt: number }>();
  /** Tickets in order from `head` on; an entry whose machine has since left (or re-queued) is skipped. */
  let queue: Array<{ key: string; ticket: number }> = [];
  let head = 0;
  let nextTicket = 0;
  let finished: number[] = [];
  let expired = 0;
  let sweptAt = -Infinity;

  const live = (e: { key: string; ticket: number }) => waiting.get(e.key)?.ticket === e.ticket;

  function tidy(t: number): void {
    for (const [key, at] of loading) {
      if (t - at < rules.holdMs) break;
      loading.delete(key);
      expired++;
    }
    if (t - sweptAt >= SWEEP_EVERY_MS) {
      sweptAt = t;
      for (const [key, w] of waiting) if (t - w.lastAt > rules.forgetMs) waiting.delete(key);
      if (finished.length > 0 && t - finished[0] > RATE_WINDOW_MS)
        finished = finished.filter((at) => t - at <= RATE_WINDOW_MS);
    }
    while (head < queue.length && !live(queue[head])) head++;
    if (head > 1024 && head * 2 > queue.length) {
      queue = queue.slice(head);
      head = 0;
    }
  }

  /** Waiting machines ahead of `ticket` (an upper bound: machines that left between are counted until swept). */
  const rankOf = (ticket: number): number => (head < queue.length ? ticket - queue[head].ticket : 0);

  function finishedPerS(t: number): number {
    let n = 0;
    for (let i = finished.length - 1; i >= 0 && t - finished[i] <= RATE_WINDOW_MS; i--) n++;
    return n / (RATE_WINDOW_MS / 1000);
  }

  return {
    /**
     * Machine `key` asks to load a kernel at `t`. `hold`: the stages that race firmware timers (DHCP, TFTP) are
     * under pressure, so no new load starts now (those loading go on; the queue keeps its order).
     */
    ask(key: string, t: number, hold = false): GateAnswer {
      if (rules.maxLoading <= 0) return { admit: true };
      tidy(t);
      if (loading.has(key)) return { admit: true }; // asked again while loading (its kernel failed and it retried)
      const free = hold ? 0 : rules.maxLoading - loading.size;
      let w = waiting.get(key);
      // A newcomer goes behind every machine already waiting.
      const rank = w ? rankOf(w.ticket) : waiting.size === 0 ? 0 : nextTicket - queue[head].ticket;
      if (rank < free) {
        if (w) waiting.delete(key);
        loading.set(key, t);
        return { admit: true };
      }
      if (!w) {
        w = { ticket: nextTicket++, lastAt: t };
        waiting.set(key, w);
        queue.push({ key, ticket: w.ticket });
      } else w.lastAt = t;
      const rate = finishedPerS(t);
      const ahead = rank - free + 1;
      const delaySeconds =
        rate > 0
          ? Math.min(rules.maxDelaySeconds, Math.max(1, Math.ceil(ahead / rate)))
          : Math.min(rules.maxDelaySeconds, 5);
      return { admit: false, position: rank + 1, waiting: waiting.size, loading: loading.size, delaySeconds };
    },

    /** Machine `key` finished loading (its initrd came, or its kernel failed): its slot is free. */
    release(key: string, t: number): void {
      if (loading.delete(key)) finished.push(t);
    },

    stats(t: number): LoadingGateStats {
      tidy(t);
      return { loading: loading.size, waiting: waiting.size, finishedPerS: finishedPerS(t), expired };
    },
  };
}

export type LoadingGate = ReturnType<typeof createLoadingGate>;

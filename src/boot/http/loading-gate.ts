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
 * `maxDelaySeconds` further back. A free slot is kept only for machines ahead that are due back within
 * `reserveAheadMs`; whoever asks meanwhile takes one nobody is due for (work-conserving: with slots kept for
 * sleeping machines, 2 000 machines at once took 141 s through a 256-slot room against 102 s with none,
 * 2026-12-07).
 *
 * While the stages that race firmware timers are under pressure (the caller says: DHCP's queue, TFTP at its transfer
 * limit), no new load starts: a machine in the waiting room has no timer, one in its firmware's TFTP has seconds.
 *
 * A slot is freed when the machine's initrd (or a failed kernel) is answered, by the address its script was fetched
 * from (`loaded`): the member serving the files need not know the machine's MAC (behind a NAT or a proxy every
 * machine has one address, and each finished load then frees the oldest slot given to that address: the count stays
 * right). A later stage of the machine frees it too (`release`, by MAC), and so does another member that served the
 * load (it says so across members, controller.ts). A slot nobody frees is taken back after `holdLoads` times what a
 * load takes (at least `minHoldMs`, at most `holdMs`): a machine that died loading, or loaded where this member could
 * not see it. (Freed only by a stage seen by MAC and after a fixed 300 s, two members whose machines fetched from one
 * address freed almost every slot by the timeout: the two-member storm of 2026-12-07 took 944.5 s against 85.4 s
 * without the room.) Pure: time is passed in.
 */

export interface LoadingGateRules {
  /** Machines loading at once; 0: no limit (every machine is let through). */
  maxLoading: number;
  /** A slot not freed by then is taken back, whatever a load takes. */
  holdMs: number;
  /** Once loads have been timed: a slot not freed within this many times what a load takes is taken back ... */
  holdLoads: number;
  /** ... but never sooner than this. */
  minHoldMs: number;
  /** The longest wait between a queued machine's questions, in seconds (iPXE's `sleep` takes whole seconds). */
  maxDelaySeconds: number;
  /** A queued machine not heard from for this long has left the queue. */
  forgetMs: number;
  /**
   * A free slot is kept for a machine ahead in the queue only while that machine is due back within this many ms
   * (or late by at most `reserveLateMs`); otherwise whoever asks takes it, so no slot sits idle while the machines
   * ahead sleep.
   */
  reserveAheadMs: number;
  reserveLateMs: number;
}

export const defaultLoadingGateRules: LoadingGateRules = {
  maxLoading: 256,
  holdMs: 300_000,
  holdLoads: 4,
  minHoldMs: 30_000,
  // Under half the kernel stage's 60 s deadline: a queued host asking this often is never 'late' (admission.ts).
  maxDelaySeconds: 20,
  forgetMs: 120_000,
  reserveAheadMs: 2_000,
  reserveLateMs: 5_000,
};

/** Let through, or wait: the machine's place (1 = next), the queue's length, and when to ask again. */
export type GateAnswer =
  { admit: true } | { admit: false; position: number; waiting: number; loading: number; delaySeconds: number };

export interface LoadingGateStats {
  loading: number;
  waiting: number;
  /** Loads finished per second over the last `RATE_WINDOW_MS`. */
  finishedPerS: number;
  /** Slots taken back unfreed (`holdLoads` loads' time, or `holdMs`) since the gate was made. */
  expired: number;
}

/** Finished loads are counted over this window for the delay estimate. */
const RATE_WINDOW_MS = 30_000;
/** Queued machines are swept for ones that left at most this often. */
const SWEEP_EVERY_MS = 1_000;
/** At most this many queue entries are looked at for slots kept for machines ahead (beyond: kept, conservatively). */
const RESERVE_SCAN = 512;

/** An address as one member and another see it: an IPv4-mapped IPv6 address (a dual-stack listener) as IPv4. */
const plainAddress = (a: string): string => (a.startsWith('::ffff:') && a.includes('.') ? a.slice(7) : a);

export function createLoadingGate(rules: LoadingGateRules) {
  /** Machine → when its slot was given and to what address (Map order is grant order: the oldest first, for expiry). */
  const loading = new Map<string, { at: number; from: string | undefined }>();
  /** Address → the machines holding a slot given to a script fetched from it, oldest first. */
  const byFrom = new Map<string, Set<string>>();
  /**
   * Machines whose slot a load ended from their address freed (`loaded`), not yet seen by MAC: the load that ended may
   * have been another machine's behind the same address. Machine → its grant, in the order freed.
   */
  const presumed = new Map<string, { at: number; from: string; freedAt: number }>();
  /** Address → its machines in `presumed`, oldest first. */
  const presumedByFrom = new Map<string, Set<string>>();
  /** Machine → its ticket and when it last asked. */
  const waiting = new Map<string, { ticket: number; lastAt: number; dueAt: number }>();
  /** Tickets in order from `head` on; an entry whose machine has since left (or re-queued) is skipped. */
  let queue: Array<{ key: string; ticket: number }> = [];
  let head = 0;
  let nextTicket = 0;
  let finished: number[] = [];
  let expired = 0;
  let sweptAt = -Infinity;
  /** When the gate last went from idle (nothing loading or waiting) to busy: the rate is counted from then at most. */
  let busySince = -Infinity;
  /** What a load takes (grant to release), a moving average; null until one has finished. */
  let loadMs: number | null = null;

  const live = (e: { key: string; ticket: number }) => waiting.get(e.key)?.ticket === e.ticket;

  /** How long an unfreed slot is kept: a few loads' time once loads are timed, else `holdMs`. */
  const holdFor = (): number =>
    loadMs === null ? rules.holdMs : Math.min(rules.holdMs, Math.max(rules.minHoldMs, rules.holdLoads * loadMs));

  const addTo = (index: Map<string, Set<string>>, from: string, key: string) => {
    const keys = index.get(from);
    if (keys) keys.add(key);
    else index.set(from, new Set([key]));
  };
  const removeFrom = (index: Map<string, Set<string>>, from: string, key: string) => {
    const keys = index.get(from);
    keys?.delete(key);
    if (keys?.size === 0) index.delete(from);
  };
  function unpresume(key: string): { at: number; from: string; freedAt: number } | undefined {
    const p = presumed.get(key);
    if (p === undefined) return undefined;
    presumed.delete(key);
    removeFrom(presumedByFrom, p.from, key);
    return p;
  }

  function drop(key: string): { at: number; from: string | undefined } | undefined {
    const g = loading.get(key);
    if (g === undefined) return undefined;
    loading.delete(key);
    if (g.from !== undefined) removeFrom(byFrom, g.from, key);
    return g;
  }

  function finish(key: string, t: number): void {
    const g = drop(key);
    if (g === undefined) return;
    finished.push(t);
    // Moving average of the last few dozen loads.
    loadMs = loadMs === null ? t - g.at : loadMs + (t - g.at - loadMs) / 32;
  }

  function tidy(t: number): void {
    const hold = holdFor();
    for (const [key, g] of loading) {
      if (t - g.at < hold) break;
      drop(key);
      expired++;
    }
    for (const [key, p] of presumed) {
      if (t - p.freedAt < rules.holdMs) break;
      unpresume(key);
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

  /**
   * Whether one of `free` slots is left for the machine holding `ticket` (Infinity: a newcomer) once the machines
   * ahead of it that are due back soon have theirs: work-conserving, so a slot is not left idle for a machine that
   * sleeps for seconds yet, while the machines at the head (asked back after 1 s) keep their turn.
   */
  function slotLeft(ticket: number, free: number, t: number): boolean {
    let kept = 0;
    for (let i = head, seen = 0; i < queue.length && queue[i].ticket < ticket; i++) {
      if (++seen > RESERVE_SCAN) return false;
      const e = queue[i];
      const w = waiting.get(e.key);
      if (w?.ticket !== e.ticket) continue;
      if (w.dueAt - t <= rules.reserveAheadMs && t - w.dueAt <= rules.reserveLateMs && ++kept >= free) return false;
    }
    return kept < free;
  }

  /**
   * Loads finished per second lately: over the last `RATE_WINDOW_MS`, or since the gate got busy when that is
   * shorter. (Over the whole window from the start of a storm, 64 loads finished in its first 5 s counted as
   * 2 a second, not 13, and queued machines were told to sleep up to 15 times too long while slots stood free.)
   */
  function finishedPerS(t: number): number {
    let n = 0;
    for (let i = finished.length - 1; i >= 0 && t - finished[i] <= RATE_WINDOW_MS; i--) n++;
    return n / (Math.max(1_000, Math.min(RATE_WINDOW_MS, t - busySince)) / 1000);
  }

  return {
    /**
     * Machine `key` asks to load a kernel at `t`. `hold`: the stages that race firmware timers (DHCP, TFTP) are
     * under pressure, so no new load starts now (those loading go on; the queue keeps its order). `from`: the
     * address the machine asked from, which its kernel and initrd will come from too (`loaded`).
     */
    ask(key: string, t: number, hold = false, from?: string): GateAnswer {
      if (rules.maxLoading <= 0) return { admit: true };
      tidy(t);
      if (loading.has(key)) return { admit: true }; // asked again while loading (its kernel failed and it retried)
      unpresume(key);
      if (loading.size === 0 && waiting.size === 0) busySince = t;
      const free = hold ? 0 : rules.maxLoading - loading.size;
      let w = waiting.get(key);
      // A newcomer goes behind every machine already waiting.
      const rank = w ? rankOf(w.ticket) : waiting.size === 0 ? 0 : nextTicket - queue[head].ticket;
      if (rank < free || (free > 0 && slotLeft(w ? w.ticket : Infinity, free, t))) {
        if (w) waiting.delete(key);
        const address = from === undefined ? undefined : plainAddress(from);
        loading.set(key, { at: t, from: address });
        if (address !== undefined) addTo(byFrom, address, key);
        return { admit: true };
      }
      if (!w) {
        w = { ticket: nextTicket++, lastAt: t, dueAt: t };
        waiting.set(key, w);
        queue.push({ key, ticket: w.ticket });
      } else w.lastAt = t;
      // Slots free up at maxLoading per load time (when every slot is busy): timed from what a load takes, not from
      // loads finished lately. Finished loads count only the slots that were used, so with slots idle the rate fell,
      // the delays grew, and more slots stood idle (a 2 000-machine simulation used half of 64 slots). Rounded down:
      // a question too early costs one small request, one too late an idle slot.
      const ahead = rank - free + 1;
      const delaySeconds =
        loadMs === null
          ? Math.min(rules.maxDelaySeconds, 2)
          : Math.min(rules.maxDelaySeconds, Math.max(1, Math.floor((ahead * loadMs) / rules.maxLoading / 1000)));
      w.dueAt = t + delaySeconds * 1000;
      return { admit: false, position: rank + 1, waiting: waiting.size, loading: loading.size, delaySeconds };
    },

    /**
     * Machine `key` finished loading (it was seen at a later stage): its slot is free. When a load ended from its
     * address already freed another machine's slot in its place (behind one address, out of order), that machine is
     * loading after all and gets its slot back: one load, one slot.
     */
    release(key: string, t: number): void {
      if (unpresume(key)) return;
      const g = loading.get(key);
      const from = g?.from;
      const instead = from === undefined ? undefined : presumedByFrom.get(from)?.values().next().value;
      if (g === undefined || from === undefined || instead === undefined) return finish(key, t);
      const p = unpresume(instead)!;
      drop(key);
      loading.set(instead, { at: p.at, from });
      addTo(byFrom, from, instead);
    },

    /**
     * A load from address `from` finished (an initrd answered, or a kernel or initrd refused): the oldest slot given
     * to a machine asking from there is free. False when this gate gave none there (the load was another member's).
     */
    loaded(from: string, t: number): boolean {
      const address = plainAddress(from);
      const keys = byFrom.get(address);
      if (keys === undefined) return false;
      const key = keys.values().next().value!;
      const g = loading.get(key)!;
      finish(key, t);
      presumed.set(key, { at: g.at, from: address, freedAt: t });
      addTo(presumedByFrom, address, key);
      return true;
    },

    stats(t: number): LoadingGateStats {
      tidy(t);
      return { loading: loading.size, waiting: waiting.size, finishedPerS: finishedPerS(t), expired };
    },
  };
}

export type LoadingGate = ReturnType<typeof createLoadingGate>;

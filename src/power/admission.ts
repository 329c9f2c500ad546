/**
 * Admission control for batch power-on (issue 17): how many machines may be
 * booting at once, paced by what the data plane says about its headroom, not
 * by a fixed stagger alone. Pure: the caller samples the data plane and keeps
 * the clock; `createAdmissionGate` (admission-gate.ts) does the waiting.
 *
 * The window is the number of boots in progress (the timeline's sessions that
 * are neither complete, failed nor stalled) plus machines powered on in the
 * last `launchGraceMs` that have not shown up yet; until the batch's first boot
 * completes it grows no further than `startupWindow`, and past that it grows
 * by what the data plane completes (`windowLimit`). It grows like TCP's slow
 * start (doubling while the window is what limits the batch), then by an
 * eighth once it has been cut, at most once per `growEveryMs` either way (the
 * data plane shows a burst a second or so after the power-ons that made it:
 * growing on every launch let a 10 000-machine batch open its window to
 * 10 000 before the first sign of congestion arrived); a congestion sign
 * halves the rate of power-ons (not the window, see `adjust`), at most once
 * per `cutEveryMs` (one burst is one cut):
 * - the DHCP admission queue above `dhcpQueueHigh` of its limit, or any
 *   datagram shed since the last sample (a client will retransmit);
 * - TFTP transfers above `tftpHigh` of `tftp.maxTransfers`;
 * - HTTP requests waiting for their answer above `httpInFlightHigh` (a download streaming its body is answered);
 * - the controller's event loop running later than `loopDelayHighMs` (90th
 *   percentile since the last sample): DHCP, TFTP and HTTP are all answered
 *   from that loop, and datagrams wait in the kernel's socket buffer, unseen by
 *   the DHCP queue, while it is late (docs/power.md, "Admission control");
 * - boots late at their stage above `lateShare` of those in progress (at least
 *   `lateMin`): stalled, or past half their next stage's deadline since their
 *   last progress. The signs above watch the start of each boot; this one sees
 *   the backlog of kernel downloads behind them, which costs bandwidth, not
 *   answers (a 10 000-machine batch whose other signs stayed quiet opened its
 *   window to 10 000 and finished each boot only near the end).
 */

/** The boot waiting room at one instant: its slots, machines loading and machines waiting for a slot. */
export interface RoomLoad {
  slots: number;
  loading: number;
  waiting: number;
}

/** What the data plane reports at one instant. Counts not reported are null (that server is off). */
export interface HeadroomSample {
  at: number;
  dhcpQueued: number | null;
  dhcpQueueLimit: number | null;
  /** Cumulative: datagrams shed unanswered since start. */
  dhcpShed: number | null;
  tftpActive: number | null;
  tftpLimit: number | null;
  httpInFlight: number | null;
  /** How late the controller's event loop ran since the last sample (ms, 90th percentile); null when not watched. */
  loopDelayMs: number | null;
  /** Boot sessions in progress on the timeline (every machine, not only this batch's). */
  bootsInProgress: number;
  /** Of those, boots late at their stage (stalled, or past a share of the stage's deadline: timeline `bootLoad`). */
  bootsLate: number;
  /** Boot sessions the timeline opened since the controller started (cumulative): a launch seen is not counted twice. */
  bootsStarted: number;
  /** Boots the timeline saw complete: since the controller started (cumulative), per second lately, their median (ms). */
  bootsCompleted: number;
  bootsCompletedPerS: number;
  bootMedianMs: number | null;
  /**
   * The boot waiting room (`max-loading`, src/boot/http/loading-gate.ts): its slots, machines loading and machines
   * waiting for a slot; null when the room is off.
   */
  room: RoomLoad | null;
  /** Another member's congestion sign, named (several members on one store: `withPeers`); absent or null: none. */
  peerSign?: string | null;
}

/**
 * What a member publishes of its data plane with its heartbeat (several members on one store), for the batches the
 * others run: its own congestion sign (judged against its own previous sample, so counters since then mean
 * something), its boots and its waiting room. `at`: epoch ms when it was read.
 */
export type MemberLoad = Pick<
  HeadroomSample,
  | 'at'
  | 'bootsInProgress'
  | 'bootsLate'
  | 'bootsStarted'
  | 'bootsCompleted'
  | 'bootsCompletedPerS'
  | 'bootMedianMs'
  | 'room'
> & { sign: string | null };

/** This member's load to publish, from its sample now and the one before (for the signs counted since). */
export function memberLoadOf(prev: HeadroomSample | null, s: HeadroomSample, r: AdmissionRules): MemberLoad {
  return {
    at: s.at,
    sign: congestion(prev, { ...s, peerSign: null }, r),
    bootsInProgress: s.bootsInProgress,
    bootsLate: s.bootsLate,
    bootsStarted: s.bootsStarted,
    bootsCompleted: s.bootsCompleted,
    bootsCompletedPerS: s.bootsCompletedPerS,
    bootMedianMs: s.bootMedianMs,
    room: s.room,
  };
}

/**
 * This member's sample with the other members' published loads folded in (several members on one store, each
 * serving DHCP, TFTP and HTTP to part of the row): boots and completions are summed (a boot whose stages two members
 * served counts on both: the batch errs towards waiting), the median is weighted by completions, the waiting rooms
 * are added up, and any member's sign is a sign here, named. Counters are cumulative per member, so a member that
 * drops out lowers a sum: the rules read that as nothing new (launches unseen, no completion since the batch began),
 * which again errs towards waiting.
 */
export function withPeers(
  local: Omit<HeadroomSample, 'at'>,
  peers: ReadonlyArray<{ name: string; load: MemberLoad }>,
): Omit<HeadroomSample, 'at'> {
  if (peers.length === 0) return local;
  const all = [local, ...peers.map((p) => p.load)];
  const sum = (f: (x: (typeof all)[number]) => number): number => all.reduce((a, x) => a + f(x), 0);
  const perS = sum((x) => x.bootsCompletedPerS);
  const medians = all.filter((x) => x.bootMedianMs !== null);
  const weight = medians.reduce((a, x) => a + x.bootsCompletedPerS, 0);
  const bootMedianMs =
    medians.length === 0
      ? null
      : weight > 0
        ? medians.reduce((a, x) => a + x.bootMedianMs! * x.bootsCompletedPerS, 0) / weight
        : Math.max(...medians.map((x) => x.bootMedianMs!));
  const rooms = all.map((x) => x.room).filter((x) => x !== null);
  const signed = peers.find((p) => p.load.sign !== null);
  return {
    ...local,
    bootsInProgress: sum((x) => x.bootsInProgress),
    bootsLate: sum((x) => x.bootsLate),
    bootsStarted: sum((x) => x.bootsStarted),
    bootsCompleted: sum((x) => x.bootsCompleted),
    bootsCompletedPerS: perS,
    bootMedianMs,
    room:
      rooms.length === 0
        ? null
        : {
            slots: rooms.reduce((a, x) => a + x.slots, 0),
            loading: rooms.reduce((a, x) => a + x.loading, 0),
            waiting: rooms.reduce((a, x) => a + x.waiting, 0),
          },
    peerSign: local.peerSign ?? (signed ? `member ${signed.name}: ${signed.load.sign}` : null),
  };
}

/** A member's published load (JSON from the store), or null when it is absent, malformed or older than `maxAgeMs`. */
export function parseMemberLoad(json: string | null, now: number, maxAgeMs: number): MemberLoad | null {
  if (!json) return null;
  let v: unknown;
  try {
    v = JSON.parse(json);
  } catch {
    return null;
  }
  const o = v as Partial<MemberLoad> | null;
  const num = (x: unknown): x is number => typeof x === 'number' && Number.isFinite(x) && x >= 0;
  if (!o || typeof o !== 'object' || !num(o.at) || now - o.at > maxAgeMs) return null;
  if (![o.bootsInProgress, o.bootsLate, o.bootsStarted, o.bootsCompleted, o.bootsCompletedPerS].every(num)) return null;
  if (o.sign !== null && typeof o.sign !== 'string') return null;
  if (o.bootMedianMs !== null && !num(o.bootMedianMs)) return null;
  const room = o.room;
  if (room !== null && !(room && num(room.slots) && num(room.loading) && num(room.waiting))) return null;
  return o as MemberLoad;
}

export interface AdmissionRules {
  initialWindow: number;
  minWindow: number;
  maxWindow: number;
  /** Fractions of the DHCP queue limit and TFTP transfer limit above which the data plane is congested. */
  dhcpQueueHigh: number;
  tftpHigh: number;
  httpInFlightHigh: number;
  /** Event-loop delay (ms) above which the controller is congested. */
  loopDelayHighMs: number;
  /**
   * The same with the boot waiting room on: kernel and initrd downloads the room let through keep the loop busy
   * whatever the pace of power-ons, so the lower bound read them as congestion and starved the room (2 000 machines:
   * 93 cuts, 364 s against 216 s for a 10 ms stagger, 2026-12-07 on a loaded machine); DHCP has its own thread and
   * TFTP its native one, and the firmware stages have signs of their own.
   */
  loopDelayHighWithRoomMs: number;
  /** How long a machine powered on counts as booting before the timeline sees it. */
  launchGraceMs: number;
  /** At most one cut per this many ms. */
  cutEveryMs: number;
  /** At most one growth step per this many ms (about the time a power-on takes to show in the data plane). */
  growEveryMs: number;
  /** Until the first boot of the batch completes, the window grows no further than this. */
  startupWindow: number;
  /** Boots late at their stage, as a share of boots in progress and at least `lateMin`, above which the data plane is congested. */
  lateShare: number;
  lateMin: number;
  /**
   * Past `startupWindow`, boots in progress are bounded by this many times completions per second × the median
   * recent boot: about that many times the boots in progress that complete (Little's law), so the window can grow
   * by at most this factor per boot time, as TCP's window grows by what is acknowledged.
   */
  completionGain: number;
  /**
   * With the boot waiting room on: machines on their way to the room (booting, neither loading nor queued for a
   * slot: firmware DHCP, TFTP, the iPXE binary and script) may be as many as this ...
   */
  roomAhead: number;
  /** ... and the room's own queue this many room-fulls; past either, starts wait (`roomBound`). */
  roomQueue: number;
  /**
   * With the boot waiting room on, the rate starts here instead: the stages before the room take `roomAhead`
   * machines at once (measured), so the slow start need not probe below a quarter of that per second.
   */
  roomInitialRate: number;
  /** Power-ons per second: where the rate starts, and its bounds. */
  initialRate: number;
  minRate: number;
  maxRate: number;
}

export const defaultAdmissionRules: AdmissionRules = {
  initialWindow: 16,
  minWindow: 2,
  maxWindow: 10_000,
  dhcpQueueHigh: 0.25,
  tftpHigh: 0.5,
  httpInFlightHigh: 512,
  loopDelayHighMs: 100,
  loopDelayHighWithRoomMs: 500,
  launchGraceMs: 10_000,
  cutEveryMs: 2_000,
  growEveryMs: 1_000,
  startupWindow: 256,
  lateShare: 0.02,
  lateMin: 8,
  completionGain: 2,
  roomAhead: 2_048,
  roomQueue: 2,
  roomInitialRate: 512,
  initialRate: 16,
  minRate: 1,
  maxRate: 10_000,
};

export interface AdmissionState {
  window: number;
  /** Power-ons per second allowed now: what a congestion sign halves. */
  rate: number;
  /** Slow start of the rate ends here (Infinity until the first cut). */
  rateThreshold: number;
  /** Slow start ends at this window (Infinity until the first cut). */
  threshold: number;
  /** When the window was last cut (ms), or -Infinity. */
  cutAt: number;
  /** When the window last grew (ms), or -Infinity. */
  grownAt: number;
  /** Why the window was last cut, for the batch's log and events. */
  lastCut: string | null;
  /** Boots completed (the sample's cumulative count) when the batch began; null until the first sample. */
  completedAtStart: number | null;
}

export const initialAdmission = (r: AdmissionRules): AdmissionState => ({
  window: r.initialWindow,
  rate: r.initialRate,
  rateThreshold: Infinity,
  threshold: Infinity,
  cutAt: -Infinity,
  grownAt: -Infinity,
  lastCut: null,
  completedAtStart: null,
});

/**
 * The boots in progress the window allows now: the grown window, but at most `startupWindow` until a boot has
 * completed since the batch began (before that, nothing says how long a boot takes here); then, past
 * `startupWindow`, at most `completionGain` × completions per second × the median recent boot. By Little's law
 * that is about `completionGain` times the boots in progress that go on to complete, so the window grows by at
 * most that factor per boot time, clocked by completions rather than by the wall clock: a 10 000-machine batch
 * whose window grew once a second opened it to 10 000 before the first boot had finished its downloads. Boots that
 * stop completing (a backlog) stop its growth; the signs (boots late at their stage among them) stop the starts.
 * Never below `startupWindow`. (A first bound, 2 × completions per second × the *quickest* boot, held a 2 000-machine
 * batch to 16 boots a second where starting it all at once gave 27: boots here are latency-bound, and more in
 * progress meant more completed, each taking longer.)
 *
 * With the boot waiting room on, `roomBound` instead: the room bounds the downloads that the startup and completion
 * bounds guard against, so what is left to bound is the stages before it.
 */
export function windowLimit(st: AdmissionState, s: HeadroomSample, r: AdmissionRules): number {
  const room = roomBound(s, r);
  if (room !== null) return Math.max(r.minWindow, room);
  const started = st.completedAtStart ?? s.bootsCompleted;
  const floor = Math.max(r.minWindow, r.startupWindow);
  if (s.bootsCompleted <= started) return Math.min(st.window, floor);
  if (s.bootMedianMs === null) return st.window;
  const bound = Math.ceil((r.completionGain * s.bootsCompletedPerS * s.bootMedianMs) / 1000);
  return Math.min(st.window, Math.max(floor, bound));
}

/**
 * With the boot waiting room on, the machines that may be booting: those loading, those queued for a slot, and
 * `roomAhead` machines on their way to it (firmware DHCP, TFTP, the iPXE binary and script, the stages that race
 * firmware timers); none more once `roomQueue` room-fulls are queued (a queued machine costs a small request every
 * few seconds, and that many keep the room busy for several load times). null without a room.
 *
 * Why 2 048 on the way: 2 000 machines powered on at once went through those stages on this project's 2-core rig
 * with no machine retransmitting (0 of 2 000, three runs on 2026-12-07), and 10 000 at once did not (a TFTP wall):
 * the bound is the most measured safe, not a guess scaled from the room. Machines queued or loading do not count
 * against it: with one bound over all three (loading + 2 room-fulls), a 2 000-machine batch held about 500 machines
 * on their way while the room stood at 32–91 of 256 loading for its first 17 s, and finished later than the same
 * batch powered on at once; with 1 024 on the way, 116.3 s against 92.3 s at once (2026-12-07, one run each). The
 * signs (`congestion`) still stop the starts.
 */
export function roomBound(s: HeadroomSample, r: AdmissionRules): number | null {
  if (!roomOn(s)) return null;
  const { loading, waiting, slots } = s.room;
  if (waiting >= Math.ceil(r.roomQueue * slots)) return loading + waiting;
  return loading + waiting + r.roomAhead;
}

/** Whether the boot waiting room is on in this sample (it has slots). */
const roomOn = (s: HeadroomSample): s is HeadroomSample & { room: RoomLoad } => s.room !== null && s.room.slots > 0;

/** Why the data plane is congested now (`prev`: the previous sample, for what is counted since), or null. */
export function congestion(prev: HeadroomSample | null, s: HeadroomSample, r: AdmissionRules): string | null {
  if (s.dhcpQueued !== null && s.dhcpQueueLimit && s.dhcpQueued > r.dhcpQueueHigh * s.dhcpQueueLimit)
    return `DHCP queue at ${s.dhcpQueued} of ${s.dhcpQueueLimit}`;
  if (prev?.dhcpShed != null && s.dhcpShed !== null && s.dhcpShed > prev.dhcpShed)
    return `DHCP shed ${s.dhcpShed - prev.dhcpShed} datagrams`;
  if (s.tftpActive !== null && s.tftpLimit && s.tftpActive > r.tftpHigh * s.tftpLimit)
    return `TFTP at ${s.tftpActive} of ${s.tftpLimit} transfers`;
  if (s.httpInFlight !== null && s.httpInFlight > r.httpInFlightHigh)
    return `HTTP at ${s.httpInFlight} requests in flight`;
  const loopHigh = roomOn(s) ? r.loopDelayHighWithRoomMs : r.loopDelayHighMs;
  if (s.loopDelayMs !== null && s.loopDelayMs > loopHigh) return `event loop ${Math.round(s.loopDelayMs)} ms late`;
  if (s.bootsLate >= Math.max(r.lateMin, r.lateShare * s.bootsInProgress))
    return `${s.bootsLate} of ${s.bootsInProgress} boots late at their stage`;
  return s.peerSign ?? null;
}

/** Machines counted as booting: the timeline's, plus launches not yet seen by it (`unseenLaunches`). */
export const booting = (s: HeadroomSample, launchedRecently: number): number => s.bootsInProgress + launchedRecently;

/**
 * Of the launches of the last `launchGraceMs` (`startedAtLaunch`: the timeline's `bootsStarted` when each was made,
 * oldest first), how many the timeline has not shown yet: those beyond the sessions it opened since the oldest.
 * (Sessions of other machines opened meanwhile count as this batch's: an undercount of at most those.) Counting
 * every recent launch on top of the boots in progress counted a boot twice from its first DHCP on, and held a
 * 2 000-machine batch of 8 s boots to about half its window.
 */
export function unseenLaunches(startedAtLaunch: readonly number[], s: HeadroomSample): number {
  if (startedAtLaunch.length === 0) return 0;
  const seen = s.bootsStarted - startedAtLaunch[0];
  return Math.max(0, startedAtLaunch.length - Math.max(0, seen));
}

/**
 * The state after one sample, taken while a power-on waits. On a congestion sign (once per `cutEveryMs`) the
 * **rate** of power-ons is halved; the window is not cut: what congests the data plane is the burst of DHCP,
 * TFTP and HTTP at the start of each boot, so the pace of starts is what must fall, while machines already
 * loading their kernels cost bandwidth, not answers (with the window halved instead, a 2 000-machine batch
 * was held to a window of about 400 boots of 100 s: 4 starts a second). Without a sign, once per
 * `growEveryMs`: the rate doubles until its first cut, then grows by an eighth; the window grows the same way
 * when it is what holds the batch back (booting at three quarters of it or more).
 */
export function adjust(
  st: AdmissionState,
  prev: HeadroomSample | null,
  s: HeadroomSample,
  launchedRecently: number,
  r: AdmissionRules,
): AdmissionState {
  if (st.completedAtStart === null) {
    // The first sample: with the boot waiting room on, the rate starts at roomInitialRate (2 000 machines through
    // a room: 16/s doubling each second cost the batch about 5 s of power-ons that the same batch at once did not).
    const rate = roomOn(s) ? Math.max(st.rate, r.roomInitialRate) : st.rate;
    st = { ...st, completedAtStart: s.bootsCompleted, rate };
  }
  const why = congestion(prev, s, r);
  if (why !== null) {
    if (s.at - st.cutAt < r.cutEveryMs) return st;
    const rate = Math.max(r.minRate, st.rate / 2);
    return { ...st, rate, rateThreshold: rate, cutAt: s.at, lastCut: why };
  }
  if (s.at - st.grownAt < r.growEveryMs) return st;
  const rate = Math.min(r.maxRate, st.rate < st.rateThreshold ? st.rate * 2 : st.rate + Math.max(1, st.rate / 8));
  const binding = booting(s, launchedRecently) >= windowLimit(st, s, r) * 0.75 && windowLimit(st, s, r) === st.window;
  const grown = st.window < st.threshold ? st.window * 2 : st.window + Math.max(1, Math.floor(st.window / 8));
  return { ...st, rate, window: binding ? Math.min(r.maxWindow, grown) : st.window, grownAt: s.at };
}

/** The most power-ons the rate lets go back to back after a pause: a quarter second's worth (token bucket). */
export const burstOf = (st: AdmissionState): number => Math.max(1, Math.floor(st.rate / 4));

/** How long (ms) the rate still holds the next power-on back with `tokens` in the bucket; 0 when it may go. */
export const rateWaitMs = (st: AdmissionState, tokens: number): number =>
  tokens >= 1 ? 0 : ((1 - tokens) * 1000) / st.rate;

/** Whether one more machine may be powered on now (`tokens`: the rate's bucket, refilled at `rate` per second). */
export const mayLaunch = (
  st: AdmissionState,
  s: HeadroomSample,
  launchedRecently: number,
  r: AdmissionRules,
  tokens = Infinity,
) => congestion(null, s, r) === null && booting(s, launchedRecently) < windowLimit(st, s, r) && tokens >= 1;

import assert from 'node:assert/strict';
import { test } from 'node:test';
import {
  adjust,
  congestion,
  defaultAdmissionRules as r,
  initialAdmission,
  mayLaunch,
  unseenLaunches,
  windowLimit,
  roomBound,
  withPeers,
  memberLoadOf,
  parseMemberLoad,
  type MemberLoad,
  type HeadroomSample,
} from './admission.js';
import { createAdmissionGate } from './admission-gate.js';
import type { Clock } from './clock.js';

const quiet = (at: number, over: Partial<HeadroomSample> = {}): HeadroomSample => ({
  at,
  dhcpQueued: 0,
  dhcpQueueLimit: 2048,
  dhcpShed: 0,
  tftpActive: 0,
  tftpLimit: 1000,
  httpInFlight: 0,
  loopDelayMs: 0,
  bootsInProgress: 0,
  bootsLate: 0,
  bootsStarted: 0,
  bootsCompleted: 0,
  bootsCompletedPerS: 0,
  bootMedianMs: null,
  room: null,
  ...over,
});

test('congestion names the sign: DHCP queue over a quarter, shed since the last sample, TFTP over half, HTTP in flight', () => {
  assert.equal(congestion(null, quiet(0), r), null);
  assert.equal(congestion(null, quiet(0, { dhcpQueued: 513 }), r), 'DHCP queue at 513 of 2048');
  assert.equal(congestion(null, quiet(0, { dhcpQueued: 512 }), r), null);
  assert.equal(congestion(quiet(0, { dhcpShed: 5 }), quiet(1, { dhcpShed: 9 }), r), 'DHCP shed 4 datagrams');
  assert.equal(congestion(quiet(0, { dhcpShed: 9 }), quiet(1, { dhcpShed: 9 }), r), null, 'old sheds are not news');
  assert.equal(congestion(null, quiet(0, { tftpActive: 501 }), r), 'TFTP at 501 of 1000 transfers');
  assert.equal(congestion(null, quiet(0, { httpInFlight: 513 }), r), 'HTTP at 513 requests in flight');
  assert.equal(congestion(null, quiet(0, { loopDelayMs: 180.4 }), r), 'event loop 180 ms late');
  assert.equal(congestion(null, quiet(0, { loopDelayMs: 100 }), r), null);
  assert.equal(
    congestion(
      null,
      quiet(0, { dhcpQueued: null, dhcpQueueLimit: null, tftpActive: null, httpInFlight: null, loopDelayMs: null }),
      r,
    ),
    null,
    'servers that are off say nothing',
  );
});

test('the rate doubles once per growEveryMs, is halved once per cut interval on congestion, then grows by an eighth; the window grows when it binds and is never cut', () => {
  let st = initialAdmission(r);
  assert.deepEqual([st.window, st.rate], [16, 16]);
  st = adjust(st, null, quiet(0, { bootsInProgress: 4 }), 0, r);
  assert.deepEqual([st.window, st.rate], [16, 32], 'window not binding: unchanged; rate slow start doubles');
  st = adjust(st, null, quiet(100, { bootsInProgress: 10 }), 2, r);
  assert.deepEqual([st.window, st.rate], [16, 32], 'within growEveryMs: nothing grows');
  st = adjust(st, null, quiet(1000, { bootsInProgress: 12 }), 0, r);
  assert.deepEqual([st.window, st.rate], [32, 64], 'a growEveryMs later, binding (12 of 16): both double');
  st = adjust(st, null, quiet(1200, { bootsInProgress: 60, dhcpQueued: 1000 }), 0, r);
  assert.deepEqual([st.rate, st.rateThreshold, st.window, st.lastCut], [32, 32, 32, 'DHCP queue at 1000 of 2048']);
  const same = adjust(st, null, quiet(1900, { bootsInProgress: 60, dhcpQueued: 1000 }), 0, r);
  assert.equal(same.rate, 32, 'one burst is one cut');
  st = adjust(same, null, quiet(3200, { bootsInProgress: 60, loopDelayMs: 300 }), 0, r);
  assert.deepEqual([st.rate, st.window], [16, 32], 'still congested after the cut interval: the rate is cut again');
  st = adjust(st, null, quiet(4200, { bootsInProgress: 0 }), 0, r);
  assert.equal(st.rate, 18, 'past the threshold: additive growth');
  for (let i = 0; i < 200; i++) st = adjust(st, null, quiet(5200 + i * 1000, { bootsInProgress: 20_000 }), 0, r);
  assert.deepEqual(
    [st.window, st.rate],
    [2 * r.startupWindow, r.maxRate],
    'no boot completed: the startup bound holds',
  );
  const done = { bootsCompleted: 1 }; // a boot completed: the startup bound is lifted
  for (let i = 0; i < 200; i++)
    st = adjust(st, null, quiet(205_200 + i * 1000, { bootsInProgress: 20_000, ...done }), 0, r);
  assert.deepEqual([st.window, st.rate], [r.maxWindow, r.maxRate]);
  let fast = initialAdmission(r);
  for (let i = 0; i < 1000; i++) fast = adjust(fast, null, quiet(i, { bootsInProgress: 20_000 }), 0, r);
  assert.deepEqual(
    [fast.window, fast.rate],
    [32, 32],
    'a thousand samples in one second grow once, not to the maximum',
  );
  let low = initialAdmission(r);
  for (let i = 0; i < 10; i++) low = adjust(low, null, quiet(i * 3000, { dhcpQueued: 2000 }), 0, r);
  assert.equal(low.rate, r.minRate, 'never below the minimum');
});

test('a launch needs room in the window counting recent launches the timeline has not seen, and no congestion now', () => {
  const st = initialAdmission(r);
  assert.equal(mayLaunch(st, quiet(0, { bootsInProgress: 10 }), 5, r), true);
  assert.equal(mayLaunch(st, quiet(0, { bootsInProgress: 10 }), 6, r), false);
  assert.equal(mayLaunch(st, quiet(0, { tftpActive: 900 }), 0, r), false);
  assert.equal(mayLaunch(st, quiet(0), 0, r, 0.9), false, 'no token left in the rate bucket');
  assert.equal(mayLaunch(st, quiet(0), 0, r, 1), true);
});

test('the gate spaces starts by the rate, and a congestion sign halves it', async () => {
  const clock = fakeClock();
  let congestedUntil = -1;
  const gate = createAdmissionGate({
    sample: () => quiet(clock.now(), { loopDelayMs: clock.now() < congestedUntil ? 500 : 0 }),
    clock,
    rules: { ...r, initialRate: 10, growEveryMs: 60_000, cutEveryMs: 1 },
    intervalMs: 250,
    maxWaitMs: 30_000,
  });
  await gate.acquire();
  await gate.acquire();
  assert.equal(gate.stats().rate, 20, 'the first sample grew the rate once (slow start)');
  const t = clock.now();
  for (let i = 0; i < 10; i++) await gate.acquire();
  assert.ok(clock.now() - t >= 10 * 50 && clock.now() - t <= 10 * 50 + 20, `20/s: 50 ms apart (${clock.now() - t} ms)`);
  const c = clock.now();
  congestedUntil = c + 600;
  await gate.acquire();
  assert.equal(gate.stats().lastCut, 'event loop 500 ms late');
  assert.ok(gate.stats().rate < 20, `the sign cut the rate: ${gate.stats().rate}`);
  assert.ok(clock.now() >= congestedUntil, `no start while the sign showed (${clock.now() - c} ms)`);
});

/** A clock that only moves when slept on. */
function fakeClock(): Clock & { t: number } {
  const c = {
    t: 0,
    now: () => c.t,
    sleep: async (ms: number) => {
      c.t += ms;
    },
  };
  return c;
}

test('the gate lets a batch through as fast as boots finish, waits while congested, and never waits past maxWaitMs', async () => {
  const clock = fakeClock();
  let booting = 0;
  let congested = false;
  const gate = createAdmissionGate({
    sample: () => quiet(clock.now(), { bootsInProgress: booting, dhcpQueued: congested ? 2000 : 0 }),
    clock,
    rules: { ...r, initialWindow: 4, launchGraceMs: 1000, initialRate: r.maxRate },
    intervalMs: 100,
    maxWaitMs: 5000,
  });
  for (let i = 0; i < 4; i++) await gate.acquire();
  assert.equal(clock.now(), 0, 'the first window goes at once');
  booting = 4; // the four are seen booting; the window (now grown) still binds
  const t = clock.now();
  await gate.acquire();
  assert.ok(gate.stats().window >= 8, `slow start grew the window: ${JSON.stringify(gate.stats())}`);
  assert.ok(clock.now() - t <= r.growEveryMs, `room after the next growth step: waited ${clock.now() - t} ms`);
  congested = true;
  const before = clock.now();
  await gate.acquire();
  assert.equal(clock.now() - before, 5000, 'congested throughout: let through after maxWaitMs');
  assert.deepEqual([gate.stats().forced, gate.stats().cuts >= 1], [1, true]);
  congested = false;
  booting = 1000;
  const w = gate.stats().window;
  const start = clock.now();
  const pending = gate.acquire();
  await Promise.resolve();
  booting = 0;
  await pending;
  assert.ok(clock.now() - start <= 200, `waited for boots to finish: ${clock.now() - start} ms (window ${w})`);
});

test('the gate times samples with its own clock: growth follows it, whatever time the sampler stamps', async () => {
  const clock = fakeClock();
  const ref: { gate?: ReturnType<typeof createAdmissionGate> } = {};
  // Always exactly at the window, so each launch needs one growth step. The sampler stamps the wall clock (as
  // the controller's did), which barely moves while the fake clock runs: growth must follow the fake one.
  const gate = createAdmissionGate({
    sample: () => quiet(Date.now(), { bootsInProgress: ref.gate?.stats().window ?? 4 }),
    clock,
    rules: { ...r, initialWindow: 4, launchGraceMs: 1, initialRate: r.maxRate },
    intervalMs: 100,
    maxWaitMs: 60_000,
  });
  ref.gate = gate;
  for (let i = 0; i < 6; i++) await gate.acquire();
  assert.equal(gate.stats().forced, 0, `no launch waited out maxWaitMs: ${JSON.stringify(gate.stats())}`);
  assert.ok(clock.now() <= 6 * r.growEveryMs, `one growth per growEveryMs of the gate's clock: ${clock.now()} ms`);
});

test('until a boot of the batch completes, the window stops at startupWindow', () => {
  let st = initialAdmission({ ...r, initialWindow: 10_000 });
  st = adjust(st, null, quiet(0, { bootsCompleted: 7 }), 0, r);
  assert.equal(st.completedAtStart, 7, 'boots completed before the batch do not count as its own');
  assert.equal(windowLimit(st, quiet(1, { bootsCompleted: 7 }), r), r.startupWindow);
  assert.equal(mayLaunch(st, quiet(1, { bootsCompleted: 7, bootsInProgress: 255 }), 0, r), true);
  assert.equal(mayLaunch(st, quiet(1, { bootsCompleted: 7, bootsInProgress: 256 }), 0, r), false);
  assert.equal(windowLimit(st, quiet(2, { bootsCompleted: 8 }), r), 10_000, 'one completed: the window alone');
  let grow = adjust(initialAdmission(r), null, quiet(0), 0, r);
  for (let i = 1; i <= 30; i++) grow = adjust(grow, null, quiet(i * 1000, { bootsInProgress: 20_000 }), 0, r);
  assert.equal(grow.window, 2 * r.startupWindow, 'held by the startup bound, the window stops growing');
});

test('boots late at their stage are a congestion sign once they are 2 % of those in progress and at least 8', () => {
  assert.equal(congestion(null, quiet(0, { bootsInProgress: 100, bootsLate: 7 }), r), null);
  assert.equal(
    congestion(null, quiet(0, { bootsInProgress: 100, bootsLate: 8 }), r),
    '8 of 100 boots late at their stage',
  );
  assert.equal(congestion(null, quiet(0, { bootsInProgress: 5_000, bootsLate: 99 }), r), null);
  assert.equal(
    congestion(null, quiet(0, { bootsInProgress: 5_000, bootsLate: 100 }), r),
    '100 of 5000 boots late at their stage',
  );
});

test('past startupWindow, boots in progress are bounded by 2 × completions per second × the median recent boot', () => {
  let st = initialAdmission({ ...r, initialWindow: 10_000 });
  st = adjust(st, null, quiet(0), 0, r);
  // 40 boots a second complete, taking 5 s (median): 2 × 40 × 5 = 400 in progress at most.
  const flowing = { bootsCompleted: 900, bootsCompletedPerS: 40, bootMedianMs: 5_000 };
  assert.equal(windowLimit(st, quiet(1, flowing), r), 400);
  assert.equal(mayLaunch(st, quiet(1, { ...flowing, bootsInProgress: 399 }), 0, r), true);
  assert.equal(mayLaunch(st, quiet(1, { ...flowing, bootsInProgress: 400 }), 0, r), false, 'more would only queue');
  const trickle = { bootsCompleted: 901, bootsCompletedPerS: 0.5, bootMedianMs: 5_000 };
  assert.equal(windowLimit(st, quiet(2, trickle), r), r.startupWindow, 'never below startupWindow once started');
  const small = adjust(initialAdmission(r), null, quiet(0), 0, r);
  assert.equal(windowLimit(small, quiet(1, flowing), r), r.initialWindow, 'a smaller grown window still binds');
  let held = small;
  for (let i = 1; i <= 30; i++)
    held = adjust(held, null, quiet(i * 1000, { ...flowing, bootsInProgress: 20_000 }), 0, r);
  assert.equal(held.window, 512, 'held by the bound (400), the window stops growing once past it');
});

test('recent launches count as booting only until the timeline opens their sessions', () => {
  // Five launches, made when the timeline had opened 100, 100, 101, 103 and 103 sessions.
  const at = [100, 100, 101, 103, 103];
  assert.equal(unseenLaunches(at, quiet(0, { bootsStarted: 100 })), 5, 'none seen yet');
  assert.equal(unseenLaunches(at, quiet(0, { bootsStarted: 103 })), 2, 'three sessions opened since the oldest');
  assert.equal(unseenLaunches(at, quiet(0, { bootsStarted: 120 })), 0, 'all seen (and others): never below 0');
  assert.equal(unseenLaunches([], quiet(0, { bootsStarted: 120 })), 0);
});

test('with the boot waiting room on, the room bounds the batch: loading, queued, and 2 048 on their way', () => {
  let st = initialAdmission({ ...r, initialWindow: 10_000 });
  st = adjust(st, null, quiet(0), 0, r);
  const room = (loading: number, waiting: number) => ({ room: { slots: 256, loading, waiting } });
  // 256 loading, 100 queued: 256 + 100 + 2 048 may be booting, whatever the startup bound says.
  assert.equal(roomBound(quiet(1, room(256, 100)), r), 2_404);
  assert.equal(windowLimit(st, quiet(1, room(256, 100)), r), 2_404);
  assert.equal(mayLaunch(st, quiet(1, { ...room(256, 100), bootsInProgress: 2_403 }), 0, r), true);
  assert.equal(
    mayLaunch(st, quiet(1, { ...room(256, 100), bootsInProgress: 2_403 }), 1, r),
    false,
    'a launch not seen yet counts: 2 048 are already on their way',
  );
  // Queued machines do not count against the stages before the room: 300 more queued, 300 more may boot.
  assert.equal(mayLaunch(st, quiet(1, { ...room(256, 400), bootsInProgress: 2_700 }), 0, r), true);
  // Two room-fulls queued: no start, however few are on their way.
  assert.equal(roomBound(quiet(1, room(256, 512)), r), 768);
  assert.equal(mayLaunch(st, quiet(1, { ...room(256, 512), bootsInProgress: 770 }), 0, r), false);
  // An empty room at the batch's start: 2 048 before any boot completes (the startup bound is 256).
  assert.equal(windowLimit(st, quiet(1, room(0, 0)), r), 2_048);
  assert.equal(roomBound(quiet(1), r), null, 'no room: no bound of its own');
  assert.equal(windowLimit(st, quiet(1), r), r.startupWindow, 'no room: the startup bound as before');
  // Completions flowing do not change it: the room, not the completion bound, bounds the downloads.
  const flowing = { bootsCompleted: 900, bootsCompletedPerS: 40, bootMedianMs: 50_000 };
  assert.equal(windowLimit(st, quiet(2, { ...flowing, ...room(10, 0) }), r), 2_058);
  // Nor does the grown window: the rate's slow start paces the first starts.
  const small = adjust(initialAdmission(r), null, quiet(0), 0, r);
  assert.equal(windowLimit(small, quiet(1, room(256, 0)), r), 2_304);
  assert.equal(windowLimit(small, quiet(1), r), r.initialWindow, 'without a room the grown window still binds');
});

const peer = (over: Partial<MemberLoad> = {}): MemberLoad => ({
  at: 1_000,
  sign: null,
  bootsInProgress: 0,
  bootsLate: 0,
  bootsStarted: 0,
  bootsCompleted: 0,
  bootsCompletedPerS: 0,
  bootMedianMs: null,
  room: null,
  ...over,
});

test("several members: boots, completions and rooms are summed, and another member's sign is a sign here", () => {
  const { at: _at, ...local } = quiet(0, {
    bootsInProgress: 100,
    bootsStarted: 400,
    bootsCompleted: 300,
    bootsCompletedPerS: 10,
    bootMedianMs: 20_000,
    room: { slots: 256, loading: 200, waiting: 50 },
  });
  const b = peer({
    bootsInProgress: 50,
    bootsLate: 3,
    bootsStarted: 100,
    bootsCompleted: 50,
    bootsCompletedPerS: 30,
    bootMedianMs: 40_000,
    room: { slots: 256, loading: 10, waiting: 0 },
  });
  const s = { ...withPeers(local, [{ name: 'b', load: b }]), at: 1 };
  assert.equal(s.bootsInProgress, 150);
  assert.equal(s.bootsLate, 3);
  assert.equal(s.bootsStarted, 500);
  assert.equal(s.bootsCompleted, 350);
  assert.equal(s.bootsCompletedPerS, 40);
  assert.equal(s.bootMedianMs, 35_000, 'the median weighted by completions: (10 × 20 s + 30 × 40 s) / 40');
  assert.deepEqual(s.room, { slots: 512, loading: 210, waiting: 50 });
  assert.equal(congestion(null, s, r), null, 'no member congested');
  const signed = { ...withPeers(local, [{ name: 'b', load: { ...b, sign: 'TFTP at 900 of 1000 transfers' } }]), at: 1 };
  assert.equal(congestion(null, signed, r), 'member b: TFTP at 900 of 1000 transfers');
  assert.equal(
    mayLaunch(initialAdmission({ ...r, initialWindow: 10_000 }), signed, 0, r),
    false,
    "another member's sign holds this member's batch",
  );
  assert.equal(
    congestion(null, { ...signed, dhcpQueued: 600 }, r),
    'DHCP queue at 600 of 2048',
    "this member's own sign is named first",
  );
  assert.deepEqual(withPeers(local, []), local, 'alone: the local sample as it is');
});

test("a member's published load: its own sign judged against its previous sample", () => {
  const a = quiet(1_000, { dhcpShed: 5, bootsInProgress: 7 });
  const b = quiet(2_000, { dhcpShed: 9, bootsInProgress: 8, peerSign: 'member x: whatever' });
  const first = memberLoadOf(null, a, r);
  assert.equal(first.sign, null);
  assert.equal(first.bootsInProgress, 7);
  const next = memberLoadOf(a, b, r);
  assert.equal(next.sign, 'DHCP shed 4 datagrams', 'counted since the previous publication');
  assert.equal(memberLoadOf(b, { ...b, at: 3_000 }, r).sign, null, "another member's sign is not republished");
});

test('a published load is read only when well formed and fresh', () => {
  const ok = JSON.stringify(peer({ at: 10_000, room: { slots: 1, loading: 0, waiting: 0 } }));
  assert.equal(parseMemberLoad(ok, 12_000, 5_000)?.at, 10_000);
  assert.equal(parseMemberLoad(ok, 15_001, 5_000), null, 'older than maxAgeMs');
  assert.equal(parseMemberLoad(null, 0, 5_000), null);
  assert.equal(parseMemberLoad('{', 0, 5_000), null, 'not JSON');
  assert.equal(parseMemberLoad('[]', 0, 5_000), null);
  assert.equal(parseMemberLoad(JSON.stringify({ ...peer(), bootsInProgress: -1 }), 1_000, 5_000), null);
  assert.equal(parseMemberLoad(JSON.stringify({ ...peer(), sign: 5 }), 1_000, 5_000), null);
  assert.equal(parseMemberLoad(JSON.stringify({ ...peer(), room: { slots: 'x' } }), 1_000, 5_000), null);
});

test('with the boot waiting room on, the event loop is congested only past loopDelayHighWithRoomMs', () => {
  const room = { slots: 256, loading: 256, waiting: 100 };
  assert.equal(congestion(null, quiet(0, { loopDelayMs: 150 }), r), 'event loop 150 ms late');
  assert.equal(congestion(null, quiet(0, { loopDelayMs: 150, room }), r), null, 'downloads the room let through');
  assert.equal(congestion(null, quiet(0, { loopDelayMs: 501, room }), r), 'event loop 501 ms late');
  assert.equal(
    congestion(null, quiet(0, { loopDelayMs: 150, room: { ...room, slots: 0 } }), r),
    'event loop 150 ms late',
  );
});

test('with the boot waiting room on, the rate starts at roomInitialRate at the first sample; without it at initialRate', () => {
  const room = { room: { slots: 256, loading: 0, waiting: 0 } };
  // The first sample also grows the rate once (no sign): 512 → 1 024 with the room, 16 → 32 without.
  assert.equal(adjust(initialAdmission(r), null, quiet(0, room), 0, r).rate, 2 * r.roomInitialRate);
  assert.equal(adjust(initialAdmission(r), null, quiet(0), 0, r).rate, 2 * r.initialRate);
  // Only at the first sample: a rate cut later is not undone by the room.
  let st = adjust(initialAdmission(r), null, quiet(0, room), 0, r);
  st = adjust(st, null, quiet(10_000, { ...room, dhcpQueued: 2_000 }), 0, r);
  assert.equal(st.rate, r.roomInitialRate);
  st = adjust(st, null, quiet(11_000, room), 0, r);
  assert.equal(
    st.rate,
    r.roomInitialRate + r.roomInitialRate / 8,
    'past its first cut it grows by an eighth: no reset',
  );
});

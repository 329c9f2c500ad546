// The `power-launch-grace` setting (power-settings.ts) reaches a batch's admission rules, and what it changes: how
// long a machine powered on but not yet seen by the boot timeline holds its place in the window.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { defaultAdmissionRules, type HeadroomSample } from './admission.js';
import { createAdmissionGate } from './admission-gate.js';
import type { Clock } from './clock.js';
import { admissionRulesOf } from './host-power.js';

test('admission rules: launchGraceMs is 10 s by default, the controller setting when given, a test override last', () => {
  assert.equal(admissionRulesOf({}).launchGraceMs, 10_000);
  assert.equal(defaultAdmissionRules.launchGraceMs, 10_000, 'the default is unchanged');
  assert.equal(admissionRulesOf({ launchGraceMs: 120_000 }).launchGraceMs, 120_000);
  assert.equal(admissionRulesOf({ launchGraceMs: 120_000 }, { launchGraceMs: 5 }).launchGraceMs, 5);
  assert.deepEqual(
    { ...admissionRulesOf({ launchGraceMs: 120_000 }), launchGraceMs: 10_000 },
    defaultAdmissionRules,
    'nothing else changes',
  );
});

/** A data plane with nothing booting: the timeline has seen none of the batch's power-ons. */
const unseen = (at: number): HeadroomSample => ({
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
});

/** When (fake ms) the third power-on of a batch with a window of two goes, the first two never seen booting. */
async function thirdLaunchAt(launchGraceMs: number): Promise<number> {
  const clock: Clock & { t: number } = {
    t: 0,
    now: () => clock.t,
    sleep: async (ms: number) => {
      clock.t += ms;
    },
  };
  const gate = createAdmissionGate({
    sample: () => unseen(clock.now()),
    clock,
    rules: {
      ...admissionRulesOf({ launchGraceMs }),
      initialWindow: 2,
      maxWindow: 2,
      initialRate: 1000,
      maxRate: 1000,
    },
    intervalMs: 250,
    maxWaitMs: 600_000,
  });
  await gate.acquire();
  await gate.acquire();
  await gate.acquire();
  assert.equal(gate.stats().forced, 0);
  return clock.now();
}

test('a power-on the timeline has not seen holds its place in the window for the launch grace: 10 s by default, 120 s when set', async () => {
  const byDefault = await thirdLaunchAt(defaultAdmissionRules.launchGraceMs);
  assert.ok(byDefault >= 10_000 && byDefault < 10_500, `default: the third goes after 10 s (${byDefault} ms)`);
  const slowPost = await thirdLaunchAt(120_000);
  assert.ok(slowPost >= 120_000 && slowPost < 120_500, `120 s: the third goes after 120 s (${slowPost} ms)`);
});

test('a waiting batch reports its progress at most once per progressEveryMs: launches, machines booting, the window', async () => {
  const clock: Clock & { t: number } = {
    t: 0,
    now: () => clock.t,
    sleep: async (ms: number) => {
      clock.t += ms;
    },
  };
  const seen: Array<{ at: number; launched: number; booting: number; window: number; congested: string | null }> = [];
  const gate = createAdmissionGate({
    sample: () => unseen(clock.now()),
    clock,
    rules: { ...admissionRulesOf({}), initialWindow: 2, maxWindow: 2, initialRate: 1000, maxRate: 1000 },
    intervalMs: 250,
    maxWaitMs: 600_000,
    progressEveryMs: 4_000,
    onProgress: (p) =>
      seen.push({
        at: clock.now(),
        launched: p.launched,
        booting: p.booting,
        window: p.window,
        congested: p.congested,
      }),
  });
  for (let i = 0; i < 3; i++) await gate.acquire();
  // The third waits the 10 s launch grace out: reports at 0 (before any launch), then while held at 4 s and 8 s.
  assert.deepEqual(
    seen.map((x) => x.at),
    [0, 4_000, 8_000],
  );
  assert.deepEqual(seen[0], { at: 0, launched: 0, booting: 0, window: 2, congested: null });
  assert.deepEqual(seen[1], { at: 4_000, launched: 2, booting: 2, window: 2, congested: null });
});

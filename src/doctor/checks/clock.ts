import { fail, ok, type Check } from '../check.js';

/** Nothing Kiln signs or stores can be from before this: a clock reading earlier has not been set. */
export const CLOCK_FLOOR = Date.parse('2026-01-01T00:00:00Z');
/** How far the store's newest event may be ahead of this clock before it counts as a clock gone backwards (default). */
const AHEAD_MS = 60_000;

/**
 * `clock`: this machine's clock is after `CLOCK_FLOOR`, and the newest event
 * in the store (written by this or another controller) is not more than a
 * minute (`aheadMs`, the `doctor:` section's clockAheadSeconds) in its future. Certificates, install tokens, leases and deadlines all
 * read this clock.
 */
export function clockCheck(o: {
  now?: () => number;
  newestEventAt: () => Promise<string | null>;
  aheadMs?: number;
}): Check {
  const now = o.now ?? Date.now;
  const aheadMs = o.aheadMs ?? AHEAD_MS;
  const fix = 'set the clock and keep it synchronised: timedatectl set-ntp true (or chrony/systemd-timesyncd)';
  return {
    name: 'clock',
    async run() {
      const t = now();
      const iso = new Date(t).toISOString();
      if (t < CLOCK_FLOOR) return fail(`the clock reads ${iso}, before this Kiln was built`, fix);
      const newest = await o.newestEventAt();
      const ahead = newest ? Date.parse(newest) - t : 0;
      if (ahead > aheadMs)
        return fail(
          `the store's newest event (${newest}) is ${Math.round(ahead / 1000)} s after this clock (${iso}): the clock went back or lags another controller`,
          fix,
        );
      return ok(`the clock reads ${iso}; the store's newest event is not in its future`);
    },
  };
}

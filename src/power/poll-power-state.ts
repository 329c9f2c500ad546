import { hasCode } from '../error/kiln-error.js';
import { silentLogger, type Logger } from '../log/logger.js';
import { systemClock, type Clock } from './clock.js';
import type { PowerDriver, PowerState } from './power-driver.js';
import type { PowerQueue } from './power-queue.js';

/** One host to poll: `known` is the state Kiln last recorded (undefined: never read). */
export interface PollTarget {
  hostId: string;
  driver: PowerDriver;
  known: PowerState | undefined;
}

/** A host whose observed state differs from the recorded one. */
export interface PowerDrift {
  hostId: string;
  known: PowerState | undefined;
  observed: PowerState;
}

/**
 * Reads the power state of every target through the queue (so polling obeys
 * the same concurrency limit and timeouts) and calls `onDrift` for each host
 * whose state differs from `known`. Hosts whose driver has no status are
 * skipped; failures are counted and logged, never thrown.
 */
export async function pollPowerState(
  targets: PollTarget[],
  o: { queue: PowerQueue; onDrift: (d: PowerDrift) => void; logger?: Logger },
): Promise<{ polled: number; drifted: number; failed: number }> {
  const logger = o.logger ?? silentLogger;
  let drifted = 0;
  let failed = 0;
  let polled = 0;
  await Promise.all(
    targets
      .filter((t) => t.driver.capabilities.status)
      .map(async (t) => {
        try {
          const observed = (await o.queue.submit(t.hostId, t.driver, { kind: 'status' })) ?? 'unknown';
          polled++;
          if (observed !== t.known) {
            drifted++;
            o.onDrift({ hostId: t.hostId, known: t.known, observed });
          }
        } catch (err) {
          failed++;
          // The queue already reported the failure; a timeout is routine for a dead BMC.
          logger.debug({ hostId: t.hostId, timeout: hasCode(err, 'bmc_timeout') }, 'power poll failed');
        }
      }),
  );
  return { polled, drifted, failed };
}

/**
 * Polls every `intervalMs` until `signal` aborts (and only while `fence` says so). `targets` is called before
 * each round so the caller can return the current hosts and known states.
 * Resolves when stopped.
 */
export async function runPowerPoller(o: {
  intervalMs: number;
  signal: AbortSignal;
  targets: () => Promise<PollTarget[]> | PollTarget[];
  queue: PowerQueue;
  onDrift: (d: PowerDrift) => void;
  clock?: Clock;
  logger?: Logger;
  /** Checked before each round: false skips it (a controller that lost the `power-poll` role, src/cluster). */
  fence?: () => Promise<boolean>;
}): Promise<void> {
  const clock = o.clock ?? systemClock;
  while (!o.signal.aborted) {
    if (!o.fence || (await o.fence())) await pollPowerState(await o.targets(), o);
    try {
      await clock.sleep(o.intervalMs, o.signal);
    } catch {
      return;
    }
  }
}

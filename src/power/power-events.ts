import type { NewEvent } from '../event/event.js';
import type { PowerState } from './power-driver.js';
import { describeOperation, type PowerReport } from './power-queue.js';
import { redactSecrets } from './secret.js';

/** The actor recorded for operations nobody asked for (the power-state poller). */
export const pollerActor = 'kiln:poller';

/** The state Kiln expects after an action succeeds; undefined when it cannot know (soft-off waits on the OS). */
export function expectedStateAfter(r: PowerReport): PowerState | undefined {
  if (r.operation.kind === 'status') return r.state;
  if (r.operation.kind !== 'power') return undefined;
  const a = r.operation.action;
  return a === 'on' || a === 'cycle' ? 'on' : a === 'off' ? 'off' : undefined;
}

/**
 * Turns one queue report into an audit event (`power.started`,
 * `power.succeeded`, `power.failed`). BMC text is passed through
 * `redactSecrets` with `secrets` (the host's BMC password) in case a BMC
 * echoes it. `data.state` is the observed state (status) or the expected one
 * (after on, off, cycle): the poller's reference for drift.
 */
export function eventFromReport(
  r: PowerReport,
  hostName: string | null,
  secrets: ReadonlyArray<string | undefined>,
): NewEvent {
  const what = describeOperation(r.operation);
  const state = r.phase === 'succeeded' ? expectedStateAfter(r) : undefined;
  const error = r.error ? { code: r.error.code, message: redactSecrets(r.error.message, secrets) } : undefined;
  const tail =
    r.phase === 'started'
      ? 'started'
      : r.phase === 'succeeded'
        ? `succeeded${r.state ? `: power is ${r.state}` : ''}`
        : `failed: ${error?.message ?? 'unknown error'}`;
  return {
    actor: r.origin?.actor ?? pollerActor,
    kind: `power.${r.phase}`,
    hostId: r.hostId,
    subject: hostName,
    message: `host ${hostName ?? r.hostId}: ${what} ${tail}`,
    reason: r.origin?.reason ?? null,
    data: {
      driver: r.driver,
      operation: what,
      ...(r.durationMs !== undefined ? { durationMs: r.durationMs } : {}),
      ...(state ? { state } : {}),
      ...(error ? { error } : {}),
    },
  };
}

/** The `power.drift` event: the BMC reports a state other than the one Kiln last recorded. */
export function driftEvent(
  hostId: string,
  hostName: string | null,
  known: PowerState,
  observed: PowerState,
  actor: string,
): NewEvent {
  return {
    actor,
    kind: 'power.drift',
    hostId,
    subject: hostName,
    message: `host ${hostName ?? hostId}: power is ${observed}, Kiln last recorded ${known}`,
    before: { state: known },
    after: { state: observed },
    data: { state: observed },
  };
}

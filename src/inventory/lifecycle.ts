import { KilnError } from '../error/kiln-error.js';

/** Lifecycle states of a host (MISSION.md). */
export const hostStates = [
  'new',
  'discovering',
  'ready',
  'deploying',
  'deployed',
  'releasing',
  'failed',
  'retired',
] as const;
export type HostState = (typeof hostStates)[number];

/**
 * Allowed transitions. `failed` can go back to any working state once an
 * operator has looked; `retired` can only be brought back as `new`.
 */
export const transitions: Readonly<Record<HostState, readonly HostState[]>> = {
  new: ['discovering', 'ready', 'failed', 'retired'],
  discovering: ['ready', 'failed', 'new', 'retired'],
  ready: ['discovering', 'deploying', 'failed', 'retired'],
  deploying: ['deployed', 'failed', 'ready'],
  deployed: ['releasing', 'deploying', 'failed'],
  releasing: ['ready', 'failed'],
  failed: ['new', 'discovering', 'ready', 'deploying', 'releasing', 'retired'],
  retired: ['new'],
};

/** Throws `illegal_transition` (listing the legal next states) unless from → to is allowed. */
export function assertTransition(hostName: string, from: HostState, to: HostState): void {
  if (transitions[from].includes(to)) return;
  throw new KilnError(
    'illegal_transition',
    `host ${hostName} cannot go from ${from} to ${to}; from ${from} it can go to: ${transitions[from].join(', ')}`,
    { details: { from, to, allowed: transitions[from] } },
  );
}

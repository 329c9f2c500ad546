import type { NodeTrust } from './sql-node-trust-store.js';

/**
 * How long after a node's completion (`POST /node/complete`) the same call again is answered as a repeat whose
 * first answer was lost, in milliseconds. Repeats do not extend it. The installers' loop (kiln-node-lib.sh
 * `kiln_complete`) gives up within about a minute, the first-boot callback within ten.
 */
export const COMPLETE_REPEAT_WINDOW_MS = 15 * 60_000;

/**
 * Whether a completion of `stage`, authenticated with the host's current credential, repeats the last one: the
 * same stage, that completion made with this same credential (a credential issued since, for a new install or a
 * wipe, is another node's call), and `now` (ms) inside its window. A repeat changes nothing and records nothing.
 */
export function isCompleteRepeat(trust: NodeTrust, stage: string, now: number): boolean {
  if (!trust.credentialHash || !trust.completedUntil) return false;
  if (trust.completedCredentialHash !== trust.credentialHash) return false;
  if (trust.completedStage !== stage) return false;
  return now <= Date.parse(trust.completedUntil);
}

/**
 * Whether the image writer's last progress report (stage "installed"), authenticated with the host's current
 * credential, repeats one taken with that credential whose window (COMPLETE_REPEAT_WINDOW_MS, the same rule as a
 * completion's) has not ended at `now` (ms). A repeat changes nothing and records nothing.
 */
export function isInstalledRepeat(trust: NodeTrust, now: number): boolean {
  if (!trust.credentialHash || !trust.installedUntil) return false;
  if (trust.installedCredentialHash !== trust.credentialHash) return false;
  return now <= Date.parse(trust.installedUntil);
}

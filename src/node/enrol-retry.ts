import type { NodeTrust } from './sql-node-trust-store.js';

/**
 * How long after enrolment a retried discovery report may still be answered
 * with a fresh credential (its first answer lost), in milliseconds. Retries do
 * not extend it: the agent's own retries end within about 5 minutes.
 */
export const ENROL_RETRY_WINDOW_MS = 15 * 60_000;

/** The shape of an enrolment secret: `ke_` and 64 lower-case hex digits (32 random bytes the node chose at boot). */
export const enrolSecretPattern = '^ke_[0-9a-f]{64}$';

/**
 * Why a report without a credential, of an enrolled host, is not a retry (recorded in the refusal event's data,
 * never answered); `credential used` also covers a credential issued other than by a discovery report.
 */
export type EnrolRetryRefusal = 'no secret' | 'other secret' | 'credential used' | 'window passed' | 'no credential';

/**
 * Whether a report without a credential, for a host whose enrolment is
 * closed, is a retry of the report that enrolled it: the same enrolment secret
 * (`secretHash`, its SHA-256; null when the report has none), the credential
 * issued for it never used, and `now` (ms) inside the window.
 */
export function decideEnrolRetry(
  trust: NodeTrust,
  secretHash: string | null,
  now: number,
): 'retry' | EnrolRetryRefusal {
  if (!secretHash) return 'no secret';
  if (!trust.credentialHash) return 'no credential';
  if (!trust.enrolSecretHash || !trust.enrolUntil) return 'credential used';
  if (trust.enrolSecretHash !== secretHash) return 'other secret';
  if (now > Date.parse(trust.enrolUntil)) return 'window passed';
  return 'retry';
}

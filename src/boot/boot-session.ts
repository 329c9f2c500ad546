/**
 * Boot session ids (issue 13): each boot of a host gets one, minted when the
 * boot starts, carried to the node on its kernel command line, and tagged on
 * its syslog lines and API calls. The HPS form: the first hex characters of
 * sha256("<host name>:<boot time>").
 */
import { createHash } from 'node:crypto';

/**
 * Hex characters kept: 12 (48 bits). Sessions are keyed by (host, session
 * id), so ids only need to differ among one host's boots: with 48 bits a
 * host needs about 16 million boots (2^24) before a collision is even likely,
 * while the id stays short enough for a kernel command line and a log column
 * (the length git and Docker use for short ids).
 */
export const BOOT_SESSION_ID_LENGTH = 12;

/** A boot session id: BOOT_SESSION_ID_LENGTH lower-case hex characters. */
export type BootSessionId = string & { readonly __brand: 'BootSessionId' };

/**
 * The session id of the boot of `hostName` that started at `bootTime`; the
 * time enters the hash as ISO 8601 UTC with milliseconds
 * (`2026-12-06T04:52:26.209Z`), so the id is the same on every controller.
 * Pure: same inputs, same id.
 */
export function bootSessionId(hostName: string, bootTime: Date): BootSessionId {
  const digest = createHash('sha256').update(`${hostName}:${bootTime.toISOString()}`, 'utf8').digest('hex');
  return digest.slice(0, BOOT_SESSION_ID_LENGTH) as BootSessionId;
}

/** Whether `text` has the form of a boot session id (an untrusted value from a node or a syslog line). */
export function isBootSessionId(text: string): text is BootSessionId {
  return new RegExp(`^[0-9a-f]{${BOOT_SESSION_ID_LENGTH}}$`).test(text);
}

/**
 * What templates get for `boot.session`: rendering happens once per deploy,
 * before the boot that fetches the files has started, so the real id is put
 * in only when a boot script or install file is served (like the install
 * token). Stored deployments, previews and API replies hold this text.
 */
export const BOOT_SESSION_PLACEHOLDER = 'kbs_BOOTSESSION';

/**
 * `text` with the session put where a template wrote `boot.session`;
 * `session` null (no session known: timeline off, or a fetch outside a boot
 * Kiln saw) puts an empty string. Pure.
 */
export function fillBootSession(text: string, session: string | null): string {
  return text.includes(BOOT_SESSION_PLACEHOLDER) ? text.replaceAll(BOOT_SESSION_PLACEHOLDER, session ?? '') : text;
}

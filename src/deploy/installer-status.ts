/**
 * The installer's status page (node/agent/status.sh): while a host is
 * deploying, the image writer serves a read-only page on this port of the
 * address its node last called from. Pure: no I/O.
 */

/** The port the writer's busybox httpd binds (the Dominator installer's). */
export const INSTALLER_STATUS_PORT = 6978;

/**
 * The page's URL for a host in `state` whose node last called from `ip`, or
 * null: only while deploying (the writer runs then), only with an address
 * (an IPv4-mapped IPv6 address as its IPv4, an IPv6 one in brackets).
 */
export function installerStatusUrl(state: string, ip: string | null): string | null {
  if (state !== 'deploying' || !ip) return null;
  const v4 = /^::ffff:(\d{1,3}(?:\.\d{1,3}){3})$/i.exec(ip)?.[1];
  if (v4 || /^\d{1,3}(?:\.\d{1,3}){3}$/.test(ip)) return `http://${v4 ?? ip}:${INSTALLER_STATUS_PORT}/`;
  if (/^[0-9a-f:]+$/i.test(ip) && ip.includes(':')) return `http://[${ip}]:${INSTALLER_STATUS_PORT}/`;
  return null;
}

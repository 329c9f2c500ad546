// DHCP for a dead member of this store: which members are dead, and whether a
// REQUEST names one. Pure; the member rows come from src/boot/dhcp/member-watch.ts. Why and
// the bounds: docs/cluster.md ("DHCP REQUESTs for a dead member") and ADR 0012.
import { DhcpOption } from '../../protocols/dhcp4/codes.js';
import { getIpOption } from '../../protocols/dhcp4/options.js';
import type { DhcpPacket } from '../../protocols/dhcp4/packet.js';
import type { DhcpConfig } from './dhcp-config.js';

/** One member row as the takeover reads it (src/boot/dhcp/member-watch.ts, every second). */
export interface DhcpMember {
  id: string;
  name: string;
  /** The DHCP server identifiers it answers with (option 54); empty: it serves no DHCP. */
  serverIds: readonly string[];
  /** Its last heartbeat, ms since the epoch, by its own clock (as `kiln controller list` reads it). */
  lastSeen: number;
  /** It stopped cleanly (`stopped_at`). */
  stopped: boolean;
  /** How long (ms) its DHCP server's own database session has been missing: 0 while it is there, undefined when not known. */
  absentMs?: number | undefined;
}

/** A dead member whose REQUESTs a live member answers; `why` is for the log. */
export interface DeadMember {
  id: string;
  name: string;
  why: string;
}

/**
 * A member whose DHCP database session has been gone this long (ms) is dead: its process ended and the kernel closed
 * the connection (`kill -9` included), or its host vanished and PostgreSQL's keepalives ended the session (the
 * session asks for them: member-watch.ts). Two reads of member-watch.ts, so a session being reopened is not a death.
 */
export const SESSION_GONE_MS = 2000;

/**
 * The dead members by DHCP server identifier, seen from member `self` at `now`. A member is dead when it stopped
 * cleanly, or when its DHCP session has been gone SESSION_GONE_MS. Only where the sessions cannot be seen (`absentMs`
 * undefined) does the heartbeat decide, against `staleMs` (cluster.staleSeconds: the bound that shows it
 * `unhealthy`): the session ends with the process and is seen gone in 2 s, where the heartbeat (written off the main
 * loop since a storm made it 4.3 s late against a bound of 4 s, docs/cluster.md "Member liveness") takes
 * `staleMs`. An address that a
 * live member (this one included, `ownServerIds`) answers with is never a dead one's: a member restarted on the same
 * address has a new row, and a live member answers for itself.
 */
export function deadMembersByServerId(
  members: readonly DhcpMember[],
  o: { self: string; ownServerIds: readonly string[]; now: number; staleMs: number },
): Map<string, DeadMember> {
  const live = new Set(o.ownServerIds);
  const dead: Array<{ m: DhcpMember; why: string }> = [];
  for (const m of members) {
    const why = m.id === o.self ? undefined : deathOf(m, o.now, o.staleMs);
    if (why === undefined) for (const id of m.serverIds) live.add(id);
    else dead.push({ m, why });
  }
  const out = new Map<string, DeadMember>();
  for (const { m, why } of dead)
    for (const id of m.serverIds) if (!live.has(id) && !out.has(id)) out.set(id, { id: m.id, name: m.name, why });
  return out;
}

function deathOf(m: DhcpMember, now: number, staleMs: number): string | undefined {
  if (m.stopped) return 'stopped';
  if (m.absentMs !== undefined)
    return m.absentMs >= SESSION_GONE_MS
      ? `its DHCP database session is gone (${(m.absentMs / 1000).toFixed(1)} s)`
      : undefined;
  const silentMs = now - m.lastSeen;
  return silentMs > staleMs ? `no heartbeat for ${(silentMs / 1000).toFixed(1)} s` : undefined;
}

/**
 * The dead member a REQUEST asks for, when this member answers in its place; undefined otherwise.
 * RFC 2131 §4.3.2 SELECTING: the client names the server whose offer it took in option 54, ciaddr MUST be 0 and
 * option 50 MUST carry the offered address; a server not named there takes the REQUEST as a decline of its own
 * offer. A member of this store that is dead answers nothing, so the client would lose its whole back-off; its
 * offer came from the same pools and lease table, so a live member answers as it would have. Any other server
 * named (a live member, a foreign DHCP server on the segment) is left alone.
 */
export function takeoverOf(
  r: DhcpPacket,
  dead: ReadonlyMap<string, DeadMember> | undefined,
): { serverId: string; member: DeadMember } | undefined {
  if (!dead || dead.size === 0) return undefined;
  const serverId = getIpOption(r, DhcpOption.serverIdentifier);
  if (serverId === undefined) return undefined;
  // RENEWING, REBINDING and INIT-REBOOT MUST NOT carry option 54 (RFC 2131 §4.3.2); a rebinding broadcast is answered
  // by any member already (its lease is in the shared table), and a renewal unicast to a dead member reaches no one.
  if (r.ciaddr !== '0.0.0.0' || getIpOption(r, DhcpOption.requestedIpAddress) === undefined) return undefined;
  const member = dead.get(serverId);
  return member && { serverId, member };
}

/**
 * The DHCP server identifiers (option 54) a member's config answers with: each full or reservation subnet's own
 * address, else `dhcp.serverAddress`. Empty when DHCP is off. Proxy mode hands out no addresses, so nothing to take over.
 */
export function serverIdsOf(config: Pick<DhcpConfig, 'enabled' | 'serverAddress' | 'subnets'>): string[] {
  if (!config.enabled) return [];
  const ids = config.subnets
    .filter((s) => s.mode === 'full' || s.mode === 'reservation')
    .map((s) => s.serverAddress ?? config.serverAddress);
  return [...new Set(ids)];
}

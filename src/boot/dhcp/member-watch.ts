// A DHCP server's view of the other members of its store (PostgreSQL): every
// `everyMs` one query, on a connection of its own, reads each member's
// heartbeat, DHCP server identifiers and whether its DHCP server's own session
// is open; member-takeover.ts decides which members are dead. That connection
// is this member's DHCP session: its application_name (`kiln dhcp <member
// id>`) is what the other members look for in pg_stat_activity, and it ends
// with the process (`kill -9` included: the kernel closes the socket and
// PostgreSQL ends the backend). It reads the cluster's `controllers` table
// (src/cluster/cluster-tables.ts) with plain SQL: boot does not import cluster.
// docs/cluster.md, "DHCP REQUESTs for a dead member".
import pg from 'pg';
import { silentLogger, type Logger } from '../../log/logger.js';
import { deadMembersByServerId, type DeadMember, type DhcpMember } from './member-takeover.js';

/** The application_name prefix of a member's DHCP session; the member id follows. */
export const DHCP_SESSION_PREFIX = 'kiln dhcp ';

/** Rows older than this are not read: a REQUEST answers an offer seconds old, never one from a member dead an hour. */
const SINCE_MS = 3_600_000;

/** The dead members, kept current; `close()` ends the session (the other members then see this member as dead). */
export interface MemberWatch {
  /** The dead members by DHCP server identifier from the last good read (empty until one, and after a failed one). */
  dead(): ReadonlyMap<string, DeadMember>;
  close(): Promise<void>;
}

interface MemberSql {
  id: string;
  name: string;
  dhcp_server_ids: string;
  last_seen: string;
  stopped_at: string | null;
  present: boolean;
  /** This session is seen under its own name: the others' are visible too, so `present` can be trusted. */
  self_seen: boolean;
}

const QUERY = `select c.id, c.name, c.dhcp_server_ids, c.last_seen, c.stopped_at,
  exists (select 1 from pg_stat_activity a where a.application_name = $2 || c.id) as present,
  exists (select 1 from pg_stat_activity a where a.pid = pg_backend_pid() and a.application_name = $2 || $3) as self_seen
from controllers c
where c.last_seen >= $1 and c.dhcp_server_ids is not null`;

/**
 * Server-side TCP keepalives for this session (seconds): if this member's host vanishes without closing the
 * connection, PostgreSQL ends the session after about 5 + 3 × 2 = 11 s and the others see this member dead. Ignored
 * on a Unix socket, where the kernel closes the connection with the process.
 */
const KEEPALIVES: ReadonlyArray<[string, string]> = [
  ['tcp_keepalives_idle', '5'],
  ['tcp_keepalives_interval', '2'],
  ['tcp_keepalives_count', '3'],
];

/** Opens the session and reads at once, then every `everyMs` (default 1000) until `close()`. */
export function watchMembers(o: {
  url: string;
  memberId: string;
  /** This member's own DHCP server identifiers: never taken for a dead member's. */
  ownServerIds: readonly string[];
  /** cluster.staleSeconds in ms. */
  staleMs: number;
  everyMs?: number;
  log?: Logger;
  now?: () => number;
}): MemberWatch {
  const log = o.log ?? silentLogger;
  const now = o.now ?? Date.now;
  let client: pg.Client | null = null;
  let dead: ReadonlyMap<string, DeadMember> = new Map();
  const absentSince = new Map<string, number>();
  let failing = false;
  let closed = false;
  let reading: Promise<void> | null = null;

  const connect = async (): Promise<pg.Client> => {
    if (client) return client;
    const c = new pg.Client({
      connectionString: o.url,
      keepAlive: true,
      connectionTimeoutMillis: 5000,
      query_timeout: 5000,
      application_name: `${DHCP_SESSION_PREFIX}${o.memberId}`,
    });
    c.on('error', () => {
      if (client === c) client = null;
      void c.end().catch(() => {});
    });
    client = c;
    try {
      await c.connect();
    } catch (err) {
      if (client === c) client = null;
      throw err;
    }
    // A server that refuses one (an old version) still serves: only a vanished host is then noticed later.
    for (const [name, value] of KEEPALIVES)
      await c.query('select set_config($1, $2, false)', [name, value]).catch(() => {});
    return c;
  };

  /** `visible`: sessions can be seen; without it presence is not known and the heartbeat decides. */
  const toMember = (r: MemberSql, t: number, visible: boolean): DhcpMember => {
    const base = {
      id: r.id,
      name: r.name,
      serverIds: r.dhcp_server_ids.split(',').filter(Boolean),
      lastSeen: Date.parse(r.last_seen),
      stopped: r.stopped_at !== null,
    };
    if (!visible) return base;
    if (r.present) absentSince.delete(r.id);
    else if (!absentSince.has(r.id)) absentSince.set(r.id, t);
    return { ...base, absentMs: r.present ? 0 : t - absentSince.get(r.id)! };
  };

  /** Logs the members that became dead (warn: a self-healing anomaly) and those no longer taken over. */
  const report = (before: ReadonlyMap<string, DeadMember>, after: ReadonlyMap<string, DeadMember>): void => {
    for (const [serverId, m] of after)
      if (before.get(serverId)?.id !== m.id)
        log.warn(
          { member: m.name, memberId: m.id, serverId, why: m.why },
          `dhcp: member ${m.name} is dead (${m.why}); this member answers the REQUESTs that name ${serverId}`,
        );
    for (const [serverId, m] of before)
      if (after.get(serverId)?.id !== m.id)
        log.info(
          { member: m.name, memberId: m.id, serverId },
          `dhcp: REQUESTs naming ${serverId} are no longer taken over`,
        );
  };

  const read = async (): Promise<void> => {
    try {
      const c = await connect();
      const since = new Date(now() - SINCE_MS).toISOString();
      const rows = (await c.query<MemberSql>(QUERY, [since, DHCP_SESSION_PREFIX, o.memberId])).rows;
      const t = now();
      const visible = rows[0]?.self_seen === true;
      const members = rows.map((r) => toMember(r, t, visible));
      const seen = new Set(rows.map((r) => r.id));
      for (const id of absentSince.keys()) if (!seen.has(id)) absentSince.delete(id);
      const next = deadMembersByServerId(members, {
        self: o.memberId,
        ownServerIds: o.ownServerIds,
        now: t,
        staleMs: o.staleMs,
      });
      report(dead, next);
      dead = next;
      if (failing) log.info({}, 'dhcp: reading the members works again');
      failing = false;
    } catch (err) {
      // Without a current view no member is taken for dead: a live one must never be answered for.
      if (!failing)
        log.warn(
          { err: (err as Error).message },
          'dhcp: reading the members failed; REQUESTs naming a dead member are not answered until it works again',
        );
      failing = true;
      report(dead, new Map());
      dead = new Map();
      const c = client;
      client = null;
      await c?.end().catch(() => {});
    }
  };

  const tick = (): void => {
    if (closed || reading) return;
    reading = read().finally(() => {
      reading = null;
    });
  };
  tick();
  const timer = setInterval(tick, o.everyMs ?? 1000);
  timer.unref();
  return {
    dead: () => dead,
    async close() {
      closed = true;
      clearInterval(timer);
      await reading;
      const c = client;
      client = null;
      await c?.end().catch(() => {});
    },
  };
}

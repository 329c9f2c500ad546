// The read model behind `GET /api/v1/controllers` and `kiln controller list`:
// the members of this store, their health from their heartbeat, and the
// singleton roles each holds (from controller_roles).
import type { Kysely } from 'kysely';
import { parseMemberLoad, type RoomLoad } from '../power/admission.js';
import type { ClusterTables } from './cluster-tables.js';
import { memberHealth, type MemberHealth } from './roles.js';
import { listMembers, listRoles } from './sql-cluster-store.js';

/** One member as the API shows it. */
export interface MemberView {
  id: string;
  name: string;
  url: string;
  version: string;
  startedAt: string;
  lastSeen: string;
  /** Seconds since its last heartbeat. */
  silentSeconds: number;
  health: MemberHealth;
  /** The roles whose row names this member, with their terms. */
  roles: Array<{ role: string; term: number; since: string }>;
  /**
   * What its data plane said at its last heartbeat (several members on PostgreSQL; docs/power.md, "Several
   * members"): boots in progress, those late at their stage, its own congestion sign and its boot waiting room;
   * null when it publishes none, or the last one is older than `loadMaxAgeMs`.
   */
  load: {
    at: string;
    booting: number;
    late: number;
    sign: string | null;
    room: RoomLoad | null;
  } | null;
}

/** Members seen within `showSeconds` (or holding a role), newest start first. */
export async function listControllers(
  db: Kysely<ClusterTables>,
  o: { now: Date; staleMs: number; showSeconds?: number; loadMaxAgeMs?: number },
): Promise<MemberView[]> {
  const since = new Date(o.now.getTime() - (o.showSeconds ?? 86_400) * 1000).toISOString();
  const [members, roles] = await Promise.all([listMembers(db, since), listRoles(db)]);
  return members.map((m) => {
    const lastSeen = Date.parse(m.lastSeen);
    const load = parseMemberLoad(m.load, o.now.getTime(), o.loadMaxAgeMs ?? o.staleMs);
    return {
      id: m.id,
      name: m.name,
      url: m.url,
      version: m.version,
      startedAt: m.startedAt,
      lastSeen: m.lastSeen,
      silentSeconds: Math.max(0, Math.round((o.now.getTime() - lastSeen) / 100) / 10),
      health: memberHealth({ lastSeen, stopped: m.stoppedAt !== null }, o.now.getTime(), o.staleMs),
      roles: roles.filter((r) => r.holder === m.id).map((r) => ({ role: r.role, term: r.term, since: r.since })),
      load: load && {
        at: new Date(load.at).toISOString(),
        booting: load.bootsInProgress,
        late: load.bootsLate,
        sign: load.sign,
        room: load.room,
      },
    };
  });
}

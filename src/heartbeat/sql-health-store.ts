import type { Kysely } from 'kysely';
import type { HostHealth } from './health-model.js';
import type { HeartbeatTables } from './health-tables.js';

/**
 * The heartbeat's store: batch upserts, one read, a load at start, and the
 * conditional writes that make `host.unreachable` and `host.reachable` one
 * event per fact across controllers. Private to src/heartbeat/. `tx` is the
 * caller's transaction (the event goes in the same one).
 */
export interface HealthStore {
  /**
   * Upserts every row in one transaction. A row never moves its stored last-seen back (another member's newer
   * batch wins), and the same heartbeat written again does not clear an unreachable mark.
   */
  put(rows: readonly HostHealth[]): Promise<void>;
  get(hostId: string): Promise<HostHealth | null>;
  /** Every row last seen at or after `since` (loaded at start). */
  list(since: string): Promise<HostHealth[]>;
  /** Rows not marked unreachable and last seen before `before`, the oldest first, at most `limit`: the silent-hosts holder's candidates. */
  silent(before: string, limit: number): Promise<HostHealth[]>;
  /** Marks `h` unreachable (its row, `unreachable` 1) only while the row still has `h`'s last-seen and is not marked: true when it did. */
  markUnreachable(tx: Kysely<HeartbeatTables>, h: HostHealth): Promise<boolean>;
  /** Writes `h` (heard again) only while its row is marked unreachable, clearing the mark: true when it did (this member reports the return). */
  clearUnreachable(tx: Kysely<HeartbeatTables>, h: HostHealth): Promise<boolean>;
  /** Deletes the row; with `lastSeenAt` (ISO) only while the row still has it. */
  delete(hostId: string, o?: { tx?: Kysely<HeartbeatTables>; lastSeenAt?: string }): Promise<void>;
}

const parse = (state: string): HostHealth | null => {
  try {
    return JSON.parse(state) as HostHealth;
  } catch {
    // A row this version cannot read is treated as absent: the next heartbeat writes it anew.
    return null;
  }
};

const iso = (ms: number) => new Date(ms).toISOString();

export function createSqlHealthStore(db: Kysely<HeartbeatTables>): HealthStore {
  return {
    async put(rows) {
      if (rows.length === 0) return;
      await db.transaction().execute(async (trx) => {
        for (const h of rows) {
          const row = {
            host_id: h.hostId,
            last_seen_at: iso(h.lastSeenAt),
            state: JSON.stringify(h),
            unreachable: h.unreachable ? 1 : 0,
          };
          await trx
            .insertInto('host_health')
            .values(row)
            .onConflict((oc) =>
              oc
                .column('host_id')
                .doUpdateSet({ last_seen_at: row.last_seen_at, state: row.state, unreachable: row.unreachable })
                // A newer heartbeat wins; the same one written again leaves the holder's unreachable mark alone.
                .where((eb) =>
                  eb.or([
                    eb('host_health.last_seen_at', '<', row.last_seen_at),
                    eb.and([
                      eb('host_health.last_seen_at', '=', row.last_seen_at),
                      eb('host_health.unreachable', '=', 0),
                    ]),
                  ]),
                ),
            )
            .execute();
        }
      });
    },
    async get(hostId) {
      const r = await db.selectFrom('host_health').select('state').where('host_id', '=', hostId).executeTakeFirst();
      return r ? parse(r.state) : null;
    },
    async list(since) {
      const rows = await db.selectFrom('host_health').select('state').where('last_seen_at', '>=', since).execute();
      return rows.flatMap((r) => parse(r.state) ?? []);
    },
    async silent(before, limit) {
      const rows = await db
        .selectFrom('host_health')
        .select('state')
        .where('unreachable', '=', 0)
        .where('last_seen_at', '<', before)
        .orderBy('last_seen_at')
        .limit(limit)
        .execute();
      return rows.flatMap((r) => parse(r.state) ?? []);
    },
    async markUnreachable(tx, h) {
      const r = await tx
        .updateTable('host_health')
        .set({ state: JSON.stringify({ ...h, unreachable: true }), unreachable: 1 })
        .where('host_id', '=', h.hostId)
        .where('last_seen_at', '=', iso(h.lastSeenAt))
        .where('unreachable', '=', 0)
        .executeTakeFirst();
      return Number(r.numUpdatedRows) === 1;
    },
    async clearUnreachable(tx, h) {
      const r = await tx
        .updateTable('host_health')
        .set({ last_seen_at: iso(h.lastSeenAt), state: JSON.stringify({ ...h, unreachable: false }), unreachable: 0 })
        .where('host_id', '=', h.hostId)
        .where('unreachable', '=', 1)
        .executeTakeFirst();
      return Number(r.numUpdatedRows) === 1;
    },
    async delete(hostId, o = {}) {
      let q = (o.tx ?? db).deleteFrom('host_health').where('host_id', '=', hostId);
      if (o.lastSeenAt !== undefined) q = q.where('last_seen_at', '=', o.lastSeenAt);
      await q.execute();
    },
  };
}

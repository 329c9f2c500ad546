import type { Kysely } from 'kysely';
import type { HostHealth } from './health-model.js';
import type { HeartbeatTables } from './health-tables.js';

/** The heartbeat's store: batch upserts, one read, a load at start. Private to src/heartbeat/. */
export interface HealthStore {
  /** Upserts every row in one transaction. */
  put(rows: readonly HostHealth[]): Promise<void>;
  get(hostId: string): Promise<HostHealth | null>;
  /** Every row last seen at or after `since` (loaded at start). */
  list(since: string): Promise<HostHealth[]>;
  delete(hostId: string): Promise<void>;
}

const parse = (state: string): HostHealth | null => {
  try {
    return JSON.parse(state) as HostHealth;
  } catch {
    // A row this version cannot read is treated as absent: the next heartbeat writes it anew.
    return null;
  }
};

export function createSqlHealthStore(db: Kysely<HeartbeatTables>): HealthStore {
  return {
    async put(rows) {
      if (rows.length === 0) return;
      await db.transaction().execute(async (trx) => {
        for (const h of rows) {
          const row = {
            host_id: h.hostId,
            last_seen_at: new Date(h.lastSeenAt).toISOString(),
            state: JSON.stringify(h),
          };
          await trx
            .insertInto('host_health')
            .values(row)
            .onConflict((oc) => oc.column('host_id').doUpdateSet({ last_seen_at: row.last_seen_at, state: row.state }))
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
    async delete(hostId) {
      await db.deleteFrom('host_health').where('host_id', '=', hostId).execute();
    },
  };
}

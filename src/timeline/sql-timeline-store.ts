import type { Kysely } from 'kysely';
import type { TimelineTables } from './timeline-tables.js';

/** A session row as the service keeps it (`state`: the stage model's session as JSON). */
export interface SessionRow {
  mac: string;
  sessionId: string;
  hostId: string | null;
  hostName: string;
  startedAt: string;
  updatedAt: string;
  state: string;
}

/** One stored observation. */
export interface ObservationRow {
  mac: string;
  sessionId: string;
  at: string;
  stage: string;
  outcome: string;
  detail: string;
}

/** The timeline's store: batch writes, reads by host and session, pruning. Private to src/timeline/. */
/** A boot-stalls candidate: a MAC's newest session and the progress a stall was reported at (null: none). */
export type StallCandidate = SessionRow & { stallReported: string | null };

/** One page of stall candidates; `nextMac` null: the last page. */
export interface StallCandidatePage {
  candidates: StallCandidate[];
  nextMac: string | null;
}

export interface TimelineStore {
  /** Upserts `sessions` and appends `observations`, in one transaction. */
  write(sessions: readonly SessionRow[], observations: readonly ObservationRow[]): Promise<void>;
  /** Sessions of these MACs or this host, newest first. */
  listSessions(q: { macs: readonly string[]; hostId: string | null; limit: number }): Promise<SessionRow[]>;
  /** Sessions updated at or after `since` (the current ones, loaded at start). */
  listRecentSessions(since: string): Promise<SessionRow[]>;
  listObservations(mac: string, sessionId: string, limit: number): Promise<ObservationRow[]>;
  /**
   * Per MAC, its newest session updated at or after `since` (`stallReported`: the progress a stall was already
   * reported at): the boot-stalls holder's candidates, one page of MACs after `afterMac` (null: from the first) in
   * MAC order, at most `limit` sessions read. `nextMac`: where the next page starts, null after the last page.
   */
  stallCandidates(q: { since: string; afterMac: string | null; limit: number }): Promise<StallCandidatePage>;
  /**
   * Writes the stalled `state` of a session and notes `progressAt` as reported, only while its row is still the one
   * judged (same `updated_at`, this progress not reported): true when it did.
   */
  markStalled(
    tx: Kysely<TimelineTables>,
    row: Pick<SessionRow, 'mac' | 'sessionId' | 'updatedAt'>,
    state: string,
    progressAt: string,
  ): Promise<boolean>;
  /** Deletes sessions (with their observations) updated before `before`, and per MAC all but the newest `perMac`. */
  prune(opts: { before: string; perMac: number }): Promise<number>;
}

/** Rows per INSERT statement (at most 8 parameters each: far below both databases' limits). */
const ROWS_PER_STATEMENT = 500;

const sessionOf = (r: TimelineTables['boot_sessions']): SessionRow => ({
  mac: r.mac,
  sessionId: r.session_id,
  hostId: r.host_id,
  hostName: r.host_name,
  startedAt: r.started_at,
  updatedAt: r.updated_at,
  state: r.state,
});

export function createSqlTimelineStore(db: Kysely<TimelineTables>): TimelineStore {
  return {
    async write(sessions, observations) {
      if (sessions.length === 0 && observations.length === 0) return;
      await db.transaction().execute(async (trx) => {
        // Several rows per statement (a storm's first second writes thousands of sessions: one statement each
        // was a long stall of the event loop). A batch holds each (mac, session) once (PostgreSQL refuses a row
        // updated twice by one statement).
        for (let i = 0; i < sessions.length; i += ROWS_PER_STATEMENT) {
          await trx
            .insertInto('boot_sessions')
            .values(
              sessions.slice(i, i + ROWS_PER_STATEMENT).map((s) => ({
                mac: s.mac,
                session_id: s.sessionId,
                host_id: s.hostId,
                host_name: s.hostName,
                started_at: s.startedAt,
                updated_at: s.updatedAt,
                state: s.state,
                stall_reported: null,
              })),
            )
            .onConflict((oc) =>
              oc.columns(['mac', 'session_id']).doUpdateSet((eb) => ({
                host_id: eb.ref('excluded.host_id'),
                host_name: eb.ref('excluded.host_name'),
                updated_at: eb.ref('excluded.updated_at'),
                state: eb.ref('excluded.state'),
              })),
            )
            .execute();
        }
        for (let i = 0; i < observations.length; i += ROWS_PER_STATEMENT) {
          await trx
            .insertInto('boot_observations')
            .values(
              observations.slice(i, i + ROWS_PER_STATEMENT).map((o) => ({
                mac: o.mac,
                session_id: o.sessionId,
                at: o.at,
                stage: o.stage,
                outcome: o.outcome,
                detail: o.detail,
              })),
            )
            .execute();
        }
      });
    },

    async listSessions(q) {
      let query = db.selectFrom('boot_sessions').selectAll();
      const { macs, hostId } = q;
      if (macs.length === 0 && hostId === null) return [];
      query = query.where((eb) =>
        eb.or([
          ...(macs.length ? [eb('mac', 'in', [...macs])] : []),
          ...(hostId !== null ? [eb('host_id', '=', hostId)] : []),
        ]),
      );
      const rows = await query.orderBy('started_at', 'desc').limit(q.limit).execute();
      return rows.map(sessionOf);
    },

    async listRecentSessions(since) {
      const rows = await db
        .selectFrom('boot_sessions')
        .selectAll()
        .where('updated_at', '>=', since)
        .orderBy('started_at', 'asc')
        .execute();
      return rows.map(sessionOf);
    },

    async stallCandidates({ since, afterMac, limit }) {
      let query = db.selectFrom('boot_sessions').selectAll().where('updated_at', '>=', since);
      if (afterMac !== null) query = query.where('mac', '>', afterMac);
      const rows = await query.orderBy('mac').orderBy('started_at', 'desc').limit(limit).execute();
      let mac = '';
      const candidates: StallCandidate[] = [];
      for (const r of rows) {
        if (r.mac === mac) continue; // an older session of the same MAC: the newest one is the boot that counts
        mac = r.mac;
        candidates.push({ ...sessionOf(r), stallReported: r.stall_reported });
      }
      // A full page may end inside a MAC's sessions: its newest came first, so the next page starts after it.
      return { candidates, nextMac: rows.length === limit ? mac : null };
    },
    async markStalled(tx, row, state, progressAt) {
      const r = await tx
        .updateTable('boot_sessions')
        .set({ state, stall_reported: progressAt })
        .where('mac', '=', row.mac)
        .where('session_id', '=', row.sessionId)
        .where('updated_at', '=', row.updatedAt)
        .where((eb) => eb.or([eb('stall_reported', 'is', null), eb('stall_reported', '<>', progressAt)]))
        .executeTakeFirst();
      return Number(r.numUpdatedRows) === 1;
    },
    async listObservations(mac, sessionId, limit) {
      const rows = await db
        .selectFrom('boot_observations')
        .select(['mac', 'session_id', 'at', 'stage', 'outcome', 'detail'])
        .where('mac', '=', mac)
        .where('session_id', '=', sessionId)
        .orderBy('id', 'asc')
        .limit(limit)
        .execute();
      return rows.map((r) => ({
        mac: r.mac,
        sessionId: r.session_id,
        at: r.at,
        stage: r.stage,
        outcome: r.outcome,
        detail: r.detail,
      }));
    },

    async prune({ before, perMac }) {
      return db.transaction().execute(async (trx) => {
        const all = await trx
          .selectFrom('boot_sessions')
          .select(['mac', 'session_id', 'updated_at', 'started_at'])
          .orderBy('mac')
          .orderBy('started_at', 'desc')
          .execute();
        const doomed: Array<{ mac: string; session_id: string }> = [];
        let mac = '';
        let n = 0;
        for (const r of all) {
          n = r.mac === mac ? n + 1 : 1;
          mac = r.mac;
          if (n > perMac || r.updated_at < before) doomed.push(r);
        }
        for (const d of doomed) {
          await trx
            .deleteFrom('boot_observations')
            .where('mac', '=', d.mac)
            .where('session_id', '=', d.session_id)
            .execute();
          await trx
            .deleteFrom('boot_sessions')
            .where('mac', '=', d.mac)
            .where('session_id', '=', d.session_id)
            .execute();
        }
        return doomed.length;
      });
    },
  };
}

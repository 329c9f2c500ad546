import type { Kysely } from 'kysely';
import type { NewSyslogMessage, StoredSyslogMessage, SyslogQuery } from './syslog-message-row.js';
import type { SyslogTables } from './syslog-tables.js';

/** The syslog domain's store: batch inserts, reads by host and session, pruning. Private to src/syslog/. */
export interface SyslogStore {
  /** Writes every message in one transaction. */
  insertMany(messages: readonly NewSyslogMessage[]): Promise<void>;
  list(q: SyslogQuery): Promise<StoredSyslogMessage[]>;
  /** Deletes messages received before `before` and, per host (null counted as one), all but the newest `maxPerHost`. Gives the count deleted. */
  prune(opts: { before: string; maxPerHost: number }): Promise<number>;
}

type Row = SyslogTables['syslog_messages'];

function fromRow(r: {
  [K in keyof Row]: K extends 'id' ? number | string : Row[K];
}): StoredSyslogMessage {
  return {
    id: Number(r.id),
    hostId: r.host_id,
    receivedAt: r.received_at,
    sourceIp: r.source_ip,
    facility: r.facility,
    severity: r.severity,
    hostname: r.hostname,
    app: r.app,
    procId: r.procid,
    msgId: r.msgid,
    text: r.text,
    sessionId: r.session_id,
    defects: r.defects ? r.defects.split(',') : [],
  };
}

/** Rows per INSERT statement: 14 parameters each stays far below SQLite's and PostgreSQL's parameter limits. */
const ROWS_PER_STATEMENT = 500;

export function createSqlSyslogStore(db: Kysely<SyslogTables>): SyslogStore {
  return {
    async insertMany(messages) {
      if (messages.length === 0) return;
      await db.transaction().execute(async (trx) => {
        for (let i = 0; i < messages.length; i += ROWS_PER_STATEMENT) {
          await trx
            .insertInto('syslog_messages')
            .values(
              messages.slice(i, i + ROWS_PER_STATEMENT).map((m) => ({
                host_id: m.hostId,
                received_at: m.receivedAt,
                source_ip: m.sourceIp,
                facility: m.facility,
                severity: m.severity,
                hostname: m.hostname,
                app: m.app,
                procid: m.procId,
                msgid: m.msgId,
                text: m.text,
                session_id: m.sessionId,
                defects: m.defects.length ? m.defects.join(',') : null,
                raw: m.raw,
              })),
            )
            .execute();
        }
      });
    },
    async list(q) {
      let sel = db.selectFrom('syslog_messages').selectAll();
      sel = q.hostId === null ? sel.where('host_id', 'is', null) : sel.where('host_id', '=', q.hostId);
      if (q.sessionId !== undefined) sel = sel.where('session_id', '=', q.sessionId);
      if (q.since !== undefined) {
        const rows = await sel.where('received_at', '>=', q.since).orderBy('id', 'asc').limit(q.limit).execute();
        return rows.map(fromRow);
      }
      const rows = await sel.orderBy('id', 'desc').limit(q.limit).execute();
      return rows.reverse().map(fromRow);
    },
    async prune({ before, maxPerHost }) {
      let deleted = Number(
        (await db.deleteFrom('syslog_messages').where('received_at', '<', before).executeTakeFirst()).numDeletedRows,
      );
      const hosts = await db.selectFrom('syslog_messages').select('host_id').distinct().execute();
      for (const { host_id } of hosts) {
        const scope = db.selectFrom('syslog_messages').select('id');
        const keepFrom = await (
          host_id === null ? scope.where('host_id', 'is', null) : scope.where('host_id', '=', host_id)
        )
          .orderBy('id', 'desc')
          .offset(maxPerHost - 1)
          .limit(1)
          .executeTakeFirst();
        if (!keepFrom) continue;
        const del = db.deleteFrom('syslog_messages').where('id', '<', keepFrom.id);
        const r = await (
          host_id === null ? del.where('host_id', 'is', null) : del.where('host_id', '=', host_id)
        ).executeTakeFirst();
        deleted += Number(r.numDeletedRows);
      }
      return deleted;
    },
  };
}

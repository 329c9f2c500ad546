/**
 * The syslog log store (docs/adr/0010-separate-syslog-log-store.md): an
 * append-only SQLite file of its own (`<data-dir>/syslog.sqlite`), with its
 * own connection and writer, whatever database the inventory runs on. A
 * flood of lines therefore never waits behind, nor queues, a lease or host
 * write. Bounded by bytes and by age, pruned incrementally (oldest lines
 * first, a chunk at a time). Private to src/syslog/ (and the composition root).
 */
import BetterSqlite3 from 'better-sqlite3';
import type { NewSyslogMessage, StoredSyslogMessage, SyslogQuery } from './syslog-message-row.js';

/** The syslog domain's store: batch inserts, reads by host, session, severity and text, pruning. */
export interface SyslogStore {
  /** Writes every message in one transaction. */
  insertMany(messages: readonly NewSyslogMessage[]): Promise<void>;
  list(q: SyslogQuery): Promise<StoredSyslogMessage[]>;
  /** True when one of the host's newest `window` lines contains `needle` (case-sensitive). */
  hostLineContains(hostId: string, needle: string, window?: number): Promise<boolean>;
  /**
   * One bounded pruning pass: deletes lines received before `before`, all but the newest
   * `maxPerHost` of each host (when given), and the oldest lines while the store holds more than
   * `maxBytes`, at most `maxChunks` chunks of `CHUNK` lines. Gives the count deleted and whether
   * more remains to prune (call again, after yielding).
   */
  prune(opts: { before: string; maxBytes: number; maxPerHost?: number; maxChunks?: number }): Promise<{
    deleted: number;
    more: boolean;
  }>;
  /** Bytes the lines use (pages in use × page size, free pages not counted). */
  usedBytes(): number;
  close(): Promise<void>;
}

/** Lines deleted per statement while pruning: small enough that one step is a few milliseconds. */
export const PRUNE_CHUNK = 2000;

/**
 * Schema versions of the log store (PRAGMA user_version), applied in order
 * at open. Its own numbering: it is not the inventory's migration list.
 */
const LOG_STORE_MIGRATIONS: readonly string[] = [
  `CREATE TABLE lines (
     id INTEGER PRIMARY KEY,
     host_id TEXT,
     received_at TEXT NOT NULL,
     source_ip TEXT NOT NULL,
     facility INTEGER NOT NULL,
     severity INTEGER NOT NULL,
     hostname TEXT,
     app TEXT,
     procid TEXT,
     msgid TEXT,
     text TEXT NOT NULL,
     session_id TEXT,
     defects TEXT,
     raw TEXT
   );
   CREATE INDEX lines_host ON lines (host_id, id);
   CREATE INDEX lines_host_session ON lines (host_id, session_id, id);`,
];

interface Row {
  id: number;
  host_id: string | null;
  received_at: string;
  source_ip: string;
  facility: number;
  severity: number;
  hostname: string | null;
  app: string | null;
  procid: string | null;
  msgid: string | null;
  text: string;
  session_id: string | null;
  defects: string | null;
}

function fromRow(r: Row): StoredSyslogMessage {
  return {
    id: r.id,
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

/** `%` `_` and `\` of a LIKE pattern taken literally (ESCAPE '\'). */
function likeLiteral(s: string): string {
  return s.replace(/[\\%_]/g, (c) => `\\${c}`);
}

/** Opens (creating and migrating if needed) the log store at `file` (':memory:' for tests). */
export function openLogStore(file: string): SyslogStore {
  const db = new BetterSqlite3(file);
  // Before the first table: freed pages can be given back to the file system a few at a time.
  db.pragma('auto_vacuum = INCREMENTAL');
  db.pragma('journal_mode = WAL');
  // NORMAL in WAL mode: a commit is durable across a process crash, and across power loss up to the
  // last checkpoint (sqlite.org/pragma.html#pragma_synchronous). Logs trade the last lines for rate.
  db.pragma('synchronous = NORMAL');
  db.pragma('busy_timeout = 5000');
  db.pragma('journal_size_limit = 67108864');
  migrate(db);

  // Rows per INSERT statement: one statement for many rows costs the native call and the statement
  // step once (13 bound values a row; 64 rows stay far below SQLite's 32 766 bound values).
  const ROWS_PER_INSERT = 64;
  const insertSql = (n: number) =>
    `INSERT INTO lines (host_id, received_at, source_ip, facility, severity, hostname, app, procid, msgid, text,
       session_id, defects, raw) VALUES ${Array.from({ length: n }, () => '(?,?,?,?,?,?,?,?,?,?,?,?,?)').join(',')}`;
  const insertOne = db.prepare(insertSql(1));
  const insertFull = db.prepare(insertSql(ROWS_PER_INSERT));
  const values = (m: NewSyslogMessage) => [
    m.hostId,
    m.receivedAt,
    m.sourceIp,
    m.facility,
    m.severity,
    m.hostname,
    m.app,
    m.procId,
    m.msgId,
    m.text,
    m.sessionId,
    m.defects.length ? m.defects.join(',') : null,
    m.raw,
  ];
  const insertAll = db.transaction((messages: readonly NewSyslogMessage[]) => {
    let i = 0;
    for (; i + ROWS_PER_INSERT <= messages.length; i += ROWS_PER_INSERT)
      insertFull.run(messages.slice(i, i + ROWS_PER_INSERT).flatMap(values));
    for (; i < messages.length; i++) insertOne.run(values(messages[i]));
  });
  const pageSize = Number(db.pragma('page_size', { simple: true }));
  const usedBytes = () =>
    (Number(db.pragma('page_count', { simple: true })) - Number(db.pragma('freelist_count', { simple: true }))) *
    pageSize;
  const oldestChunkOlderThan = db.prepare(
    `DELETE FROM lines WHERE id IN (SELECT id FROM lines ORDER BY id LIMIT ${PRUNE_CHUNK}) AND received_at < ?`,
  );
  const oldestChunk = db.prepare(`DELETE FROM lines WHERE id IN (SELECT id FROM lines ORDER BY id LIMIT ?)`);
  // The distinct hosts by index seeks (one per host), not a scan of every line.
  const nextHost = db.prepare('SELECT host_id FROM lines WHERE host_id > ? ORDER BY host_id LIMIT 1').pluck();
  const anyUnattributed = db.prepare('SELECT 1 FROM lines WHERE host_id IS NULL LIMIT 1').pluck();
  const hosts = (): Array<string | null> => {
    const out: Array<string | null> = anyUnattributed.get() === undefined ? [] : [null];
    // Bounded by the hosts there are; 10^6 is far above any fleet.
    for (let h = nextHost.get('') as string | undefined; h !== undefined && out.length < 1_000_000;)
      h = nextHost.get(out[out.push(h) - 1]) as string | undefined;
    return out;
  };
  const keepFromHost = db.prepare('SELECT id FROM lines WHERE host_id IS ? ORDER BY id DESC LIMIT 1 OFFSET ?');
  const deleteHostBefore = db.prepare(
    `DELETE FROM lines WHERE id IN (SELECT id FROM lines WHERE host_id IS ? AND id < ? ORDER BY id LIMIT ${PRUNE_CHUNK})`,
  );
  const contains = db.prepare(
    'SELECT 1 FROM (SELECT text FROM lines WHERE host_id = ? ORDER BY id DESC LIMIT ?) WHERE instr(text, ?) > 0 LIMIT 1',
  );

  return {
    async insertMany(messages) {
      if (messages.length > 0) insertAll(messages);
    },
    async list(q) {
      const where = ['host_id IS ?'];
      const args: Array<string | number | null> = [q.hostId];
      if (q.sessionId !== undefined) {
        where.push('session_id = ?');
        args.push(q.sessionId);
      }
      if (q.severity !== undefined) {
        // Lower is more severe (RFC 5424 §6.2.1): a threshold keeps it and everything more severe.
        where.push('severity <= ?');
        args.push(q.severity);
      }
      if (q.grep !== undefined) {
        where.push(`text LIKE ? ESCAPE '\\'`);
        args.push(`%${likeLiteral(q.grep)}%`);
      }
      let ascending = false;
      if (q.after !== undefined) {
        where.push('id > ?');
        args.push(q.after);
        ascending = true;
      }
      if (q.since !== undefined) {
        where.push('received_at >= ?');
        args.push(q.since);
        ascending = true;
      }
      const rows = db
        .prepare(
          `SELECT id, host_id, received_at, source_ip, facility, severity, hostname, app, procid, msgid, text,
             session_id, defects FROM lines WHERE ${where.join(' AND ')} ORDER BY id ${ascending ? 'ASC' : 'DESC'} LIMIT ?`,
        )
        .all(...args, q.limit) as Row[];
      if (!ascending) rows.reverse();
      return rows.map(fromRow);
    },
    async hostLineContains(hostId, needle, window = 20_000) {
      return contains.get(hostId, window, needle) !== undefined;
    },
    async prune({ before, maxBytes, maxPerHost, maxChunks = 10 }) {
      let deleted = 0;
      let chunks = 0;
      const step = (n: number) => {
        deleted += n;
        chunks++;
        return n;
      };
      // Age first: lines are appended in time order, so the oldest ids are the oldest lines.
      while (chunks < maxChunks && step(oldestChunkOlderThan.run(before).changes) === PRUNE_CHUNK);
      if (maxPerHost !== undefined && chunks < maxChunks) {
        for (const host_id of hosts()) {
          const keep = keepFromHost.get(host_id, maxPerHost - 1) as { id: number } | undefined;
          if (!keep) continue;
          while (chunks < maxChunks && step(deleteHostBefore.run(host_id, keep.id).changes) === PRUNE_CHUNK);
          if (chunks >= maxChunks) break;
        }
      }
      while (chunks < maxChunks && usedBytes() > maxBytes) {
        if (step(oldestChunk.run(PRUNE_CHUNK).changes) === 0) break;
      }
      // Give freed pages back to the file system (a few at a time: this is the incremental part).
      if (deleted > 0) db.pragma('incremental_vacuum(2000)');
      return { deleted, more: chunks >= maxChunks };
    },
    usedBytes,
    async close() {
      db.close();
    },
  };
}

function migrate(db: BetterSqlite3.Database): void {
  const at = Number(db.pragma('user_version', { simple: true }));
  for (let v = at; v < LOG_STORE_MIGRATIONS.length; v++) {
    db.transaction(() => {
      db.exec(LOG_STORE_MIGRATIONS[v]);
      db.pragma(`user_version = ${v + 1}`);
    })();
  }
}

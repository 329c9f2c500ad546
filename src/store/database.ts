import BetterSqlite3 from 'better-sqlite3';
import { mkdirSync } from 'node:fs';
import { silentLogger, type Logger } from '../log/logger.js';
import { join } from 'node:path';
import {
  CompiledQuery,
  Kysely,
  PostgresAdapter,
  PostgresDialect,
  SqliteDialect,
  SqliteDriver,
  sql,
  type DatabaseConnection,
  type Driver,
} from 'kysely';
import pg from 'pg';
import { KilnError } from '../error/kiln-error.js';
import type { Database } from '../schema.js';

/** Which SQL engine a store runs on. Shared code reads this, never the driver object. */
export type DialectName = 'sqlite' | 'postgres';

/**
 * An open store. `db` knows every table (`Database`, composed in schema.ts
 * from each domain's `*-tables.ts`). The caller owns the lifetime and must
 * `close()` it.
 */
export interface OpenDatabase {
  db: Kysely<Database>;
  dialect: DialectName;
  /** A short description without credentials, for logs. */
  describe: string;
  /** The better-sqlite3 connection under `db` on SQLite (undefined on PostgreSQL), for hot paths that prepare their own statements; use it only while holding `db.connection()`. */
  sqlite?: BetterSqlite3.Database | undefined;
  close(): Promise<void>;
}

/** Where the store lives: `databaseUrl` (postgres://…) wins over the SQLite file in `dataDir`. */
export interface DatabaseConfig {
  dataDir: string;
  databaseUrl?: string | undefined;
  /** Where connection errors after start are logged (default: nowhere). */
  log?: Logger;
  /** PostgreSQL: most connections of the pool (default 10). */
  maxConnections?: number;
}

/** True when `db` runs on PostgreSQL; migrations use it for the few dialect differences. */
export function isPostgres<DB>(db: Kysely<DB>): boolean {
  return db.getExecutor().adapter instanceof PostgresAdapter;
}

/**
 * Opens SQLite (default) or PostgreSQL and checks the connection with one
 * query, so an unreachable server fails start-up with `store_unavailable`.
 */
export async function openDatabase(config: DatabaseConfig): Promise<OpenDatabase> {
  if (config.databaseUrl) return openPostgres(config.databaseUrl, config.log, config.maxConnections);
  mkdirSync(config.dataDir, { recursive: true, mode: 0o700 });
  return openSqlite(join(config.dataDir, 'kiln.sqlite'));
}

/** Opens (creating if needed) an SQLite file, or ':memory:' for tests. */
export function openSqlite(file: string): OpenDatabase {
  const sqlite = new BetterSqlite3(file);
  // WAL lets readers run beside the writer; synchronous=FULL fsyncs the WAL at
  // every commit so an acknowledged write survives power loss (sqlite.org/pragma.html#pragma_synchronous).
  sqlite.pragma('journal_mode = WAL');
  sqlite.pragma('synchronous = FULL');
  sqlite.pragma('foreign_keys = ON');
  sqlite.pragma('busy_timeout = 5000');
  const db = new Kysely<Database>({ dialect: new ImmediateSqliteDialect({ database: withStatementCache(sqlite) }) });
  return { db, dialect: 'sqlite', describe: `sqlite:${file}`, sqlite, close: () => db.destroy() };
}

/**
 * Kysely prepares every query anew; on a boot storm that compile was 5 % of
 * the controller's CPU (bench/boot-storm.bench.ts profile). The same SQL
 * text gets the same prepared statement back (LRU, `max` entries); safe
 * because better-sqlite3 runs a statement to completion before returning and
 * Kysely's connection lock allows one query at a time.
 */
function withStatementCache(
  sqlite: BetterSqlite3.Database,
  max = 500,
): { prepare: BetterSqlite3.Database['prepare']; close(): void } {
  const cache = new Map<string, BetterSqlite3.Statement>();
  return {
    prepare: ((text: string) => {
      let stmt = cache.get(text);
      if (stmt) {
        cache.delete(text);
      } else {
        stmt = sqlite.prepare(text);
        if (cache.size >= max) cache.delete(cache.keys().next().value!);
      }
      cache.set(text, stmt);
      return stmt;
    }) as BetterSqlite3.Database['prepare'],
    close: () => {
      sqlite.close();
    },
  };
}

/**
 * Kysely's SQLite transactions start with a deferred BEGIN. Beside a second
 * connection that writes (the DHCP lease worker), a deferred transaction that
 * reads first and writes later cannot upgrade once the other connection has
 * committed since its read: SQLite answers SQLITE_BUSY at once, without the
 * busy handler (sqlite.org/lang_transaction.html, "BEGIN IMMEDIATE"; seen
 * as "database is locked" on discovery reports in bench/boot-storm.bench.ts).
 * BEGIN IMMEDIATE takes the write lock up front, where busy_timeout applies.
 *
 * Kysely's SQLite driver hands its one connection out through a mutex whose
 * unlock wakes every waiter, and all but one go back to waiting: with N
 * queries waiting that is N wake-ups per query, N² in all. A 10 000-host
 * power batch (10 000 host reads at once, bench/boot-storm.bench.ts --power)
 * spent minutes in that loop before its first power-on. A FIFO queue in front
 * of it lets one caller at a time reach Kysely's mutex, so it never has more
 * than one waiter.
 */
class ImmediateSqliteDialect extends SqliteDialect {
  override createDriver(): Driver {
    const driver = super.createDriver() as SqliteDriver;
    driver.beginTransaction = async (connection: DatabaseConnection) => {
      await connection.executeQuery(CompiledQuery.raw('begin immediate'));
    };
    const acquire = driver.acquireConnection.bind(driver);
    const release = driver.releaseConnection.bind(driver);
    const gate = fifoGate();
    driver.acquireConnection = async () => {
      await gate.enter();
      return acquire();
    };
    driver.releaseConnection = async () => {
      try {
        await release();
      } finally {
        gate.leave();
      }
    };
    return driver;
  }
}

/** One holder at a time, handed over in arrival order; each `leave` wakes exactly one waiter. */
export function fifoGate(): { enter(): Promise<void>; leave(): void } {
  let held = false;
  let waiters: Array<() => void> = [];
  let head = 0;
  return {
    enter() {
      if (!held) {
        held = true;
        return Promise.resolve();
      }
      return new Promise<void>((resolve) => waiters.push(resolve));
    },
    leave() {
      if (head < waiters.length) {
        const next = waiters[head];
        head++;
        // Compact now and then, so a long run of waiters is not kept (or shifted one by one).
        if (head > 1024 && head * 2 > waiters.length) {
          waiters = waiters.slice(head);
          head = 0;
        }
        next(); // `held` stays true: the next caller holds it now
      } else {
        held = false;
      }
    },
  };
}

function redactUrl(url: string): string {
  try {
    const u = new URL(url);
    if (u.password) u.password = '***';
    return u.toString();
  } catch {
    return 'postgres://(unparseable url)';
  }
}

async function openPostgres(url: string, log: Logger = silentLogger, max = 10): Promise<OpenDatabase> {
  const pool = new pg.Pool({ connectionString: url, max, connectionTimeoutMillis: 5000 });
  // A pool error on an idle client (server restart) must not crash the process; it is logged, and the pool reconnects.
  pool.on('error', (err) =>
    log.warn(
      { err: err.message, code: (err as { code?: string }).code },
      'PostgreSQL: an idle connection failed; the pool opens a new one when needed',
    ),
  );
  const db = new Kysely<Database>({ dialect: new PostgresDialect({ pool }) });
  const describe = redactUrl(url);
  try {
    await sql`select 1`.execute(db);
  } catch (err) {
    await db.destroy().catch(() => {});
    throw new KilnError(
      'store_unavailable',
      `cannot reach PostgreSQL at ${describe}: ${(err as Error).message}; check --database-url and that the server is running`,
      { cause: err },
    );
  }
  return { db, dialect: 'postgres', describe, close: () => db.destroy() };
}

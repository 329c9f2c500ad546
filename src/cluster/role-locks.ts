// How a member holds singleton roles. On PostgreSQL: session-level advisory
// locks on one dedicated connection (not the pool), so the locks live exactly
// as long as that connection: a member killed with SIGKILL loses its TCP
// connection and PostgreSQL releases every lock it held at once. On SQLite
// the store is one file of one process: that process holds every role.
import pg from 'pg';
import { roleLockKey, type SingletonRole } from './roles.js';

/** Takes and checks role locks. */
export interface RoleLocks {
  /** Tries to take a role's lock without waiting; true when this member now holds it. */
  tryTake(role: SingletonRole): Promise<boolean>;
  /** Gives a role's lock back (a no-op when the connection is already gone). */
  release(role: SingletonRole): Promise<void>;
  /** Throws when the locks are gone (the connection broke): the member must act as if it held nothing. */
  check(): Promise<void>;
  /** Releases every lock (closes the connection). */
  close(): Promise<void>;
}

/** SQLite: one process owns the store file, so it holds every role. */
export function localRoleLocks(): RoleLocks {
  return { tryTake: async () => true, release: async () => {}, check: async () => {}, close: async () => {} };
}

/**
 * PostgreSQL: one connection of its own. `pg_try_advisory_lock` is re-entrant
 * in one session, so a member only asks for roles it does not hold. Any error
 * on the connection ends it; `check()` then throws and the next `tryTake`
 * opens a new connection (every lock of the old one is gone with it).
 */
export function postgresRoleLocks(url: string, onError: (err: Error) => void): RoleLocks {
  let client: pg.Client | null = null;
  let broken: Error | null = null;
  const connect = async (): Promise<pg.Client> => {
    if (client && !broken) return client;
    if (client) await client.end().catch(() => {});
    broken = null;
    const c = new pg.Client({
      connectionString: url,
      connectionTimeoutMillis: 5000,
      query_timeout: 5000,
      keepAlive: true,
      application_name: 'kiln roles',
    });
    c.on('error', (err) => {
      broken = err;
      onError(err);
    });
    client = c;
    await c.connect();
    return c;
  };
  return {
    async tryTake(role) {
      const c = await connect();
      const r = await c.query<{ ok: boolean }>('select pg_try_advisory_lock($1::bigint) as ok', [
        roleLockKey(role).toString(),
      ]);
      return r.rows[0]?.ok === true;
    },
    async release(role) {
      if (!client || broken) return;
      await client.query('select pg_advisory_unlock($1::bigint)', [roleLockKey(role).toString()]);
    },
    async check() {
      if (broken) throw broken;
      if (!client) throw new Error('the role lock connection is not open');
      try {
        await client.query('select 1');
      } catch (err) {
        broken = err as Error;
        throw err;
      }
    },
    async close() {
      const c = client;
      client = null;
      if (c) await c.end().catch(() => {});
    },
  };
}

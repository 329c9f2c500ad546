// Test support: a fresh PostgreSQL database per test file on the local server
// (127.0.0.1:5432, trust auth). KILN_TEST_PG_URL overrides the admin URL.
import { createHash } from 'node:crypto';
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import pg from 'pg';
import { openDatabase } from '../../src/store/database.js';
import { migrateToLatest } from '../../src/store/migrate.js';
import { clonedComment, staleTemplates, usedComment } from './stale-templates.js';

const adminUrl = process.env.KILN_TEST_PG_URL ?? 'postgres://postgres@127.0.0.1:5432/test';
const migrationsDir = fileURLToPath(new URL('../../src/store/migrations', import.meta.url));

/** A throw-away database: `url` to connect, `drop()` to remove it. */
export interface TempPostgres {
  url: string;
  drop(): Promise<void>;
}

async function adminClient(): Promise<pg.Client> {
  const admin = new pg.Client({ connectionString: adminUrl, connectionTimeoutMillis: 5000 });
  try {
    await admin.connect();
  } catch (err) {
    throw new Error(
      `PostgreSQL is not reachable at ${adminUrl} (${(err as Error).message}); start it with: pg_ctlcluster --skip-systemctl-redirect $(ls /etc/postgresql) main start`,
    );
  }
  return admin;
}

const urlOf = (name: string): string => {
  const url = new URL(adminUrl);
  url.pathname = `/${name}`;
  return url.toString();
};

/**
 * Creates database `kiln_t<pid>_<tag>_<n>`, empty, or with `migrated` a copy of a template migrated once per set of
 * migration files (what a first `kiln serve` would make of the empty one; tests of the migrations themselves, and
 * of members racing to migrate, keep the empty one). Throws a clear error when the server is not running.
 */
export async function createTempPostgres(tag: string, o: { migrated?: boolean } = {}): Promise<TempPostgres> {
  const name = `kiln_t${process.pid}_${tag}_${Date.now() % 100000}`.toLowerCase().replace(/[^a-z0-9_]/g, '_');
  const admin = await adminClient();
  try {
    if (!o.migrated) await admin.query(`CREATE DATABASE ${name}`);
    else await cloneTemplate(admin, name);
  } finally {
    await admin.end();
  }
  return {
    url: urlOf(name),
    async drop() {
      const c = new pg.Client({ connectionString: adminUrl });
      await c.connect();
      await c.query(`DROP DATABASE IF EXISTS ${name} WITH (FORCE)`);
      await c.end();
    },
  };
}

/** The advisory lock class of a template (with hashtext of its name): shared while cloning, exclusive to drop it. */
const TEMPLATE_LOCK = 0x6b696c6e; // "kiln"

/**
 * `name` as a copy of this checkout's migrated template, under a shared advisory lock on the template (a prune
 * drops a template only under the exclusive one, so never between the check that it exists and the copy). The
 * template's comment is stamped with the time (its last use), the copy's names the template; then stale templates
 * of other migration sets are dropped (stale-templates.ts).
 */
async function cloneTemplate(admin: pg.Client, name: string): Promise<void> {
  const template = templateName();
  await admin.query('SELECT pg_advisory_lock_shared($1, hashtext($2))', [TEMPLATE_LOCK, template]);
  try {
    await migratedTemplate(admin, template);
    await admin.query(`CREATE DATABASE ${name} TEMPLATE ${template}`);
    await admin.query(`COMMENT ON DATABASE ${name} IS '${clonedComment(template)}'`);
    await admin.query(`COMMENT ON DATABASE ${template} IS '${usedComment(Date.now())}'`);
  } finally {
    await admin.query('SELECT pg_advisory_unlock_shared($1, hashtext($2))', [TEMPLATE_LOCK, template]);
  }
  await dropStaleTemplates(admin, template);
}

/** `kiln_tpl_<hash of the migration files>`. */
function templateName(): string {
  const hash = createHash('sha256');
  for (const f of readdirSync(migrationsDir).sort()) hash.update(f).update(readFileSync(join(migrationsDir, f)));
  return `kiln_tpl_${hash.digest('hex').slice(0, 16)}`;
}

const processAlive = (pid: number): boolean => {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM'; // alive, another user's
  }
};

/**
 * Drops the templates stale-templates.ts names, each only when its exclusive advisory lock is free (no clone of it
 * in progress) and with a plain DROP (refused while a session is connected). A template it cannot drop now is left
 * for a later run.
 */
async function dropStaleTemplates(admin: pg.Client, current: string): Promise<void> {
  const { rows } = await admin.query<{ name: string; comment: string | null; connections: string }>(
    `SELECT d.datname AS name, shobj_description(d.oid, 'pg_database') AS comment,
            (SELECT count(*) FROM pg_stat_activity a WHERE a.datname = d.datname) AS connections
       FROM pg_database d WHERE d.datname LIKE 'kiln\\_t%'`,
  );
  const { drop, stamp } = staleTemplates({
    databases: rows.map((r) => ({ name: r.name, comment: r.comment, connections: Number(r.connections) })),
    current,
    alive: processAlive,
    now: Date.now(),
  });
  for (const t of stamp) await admin.query(`COMMENT ON DATABASE ${t} IS '${usedComment(Date.now())}'`);
  for (const t of drop) {
    const locked = await admin.query<{ ok: boolean }>('SELECT pg_try_advisory_lock($1, hashtext($2)) AS ok', [
      TEMPLATE_LOCK,
      t,
    ]);
    if (!locked.rows[0]?.ok) continue; // being cloned right now
    try {
      await admin.query(`DROP DATABASE IF EXISTS ${t}`);
    } catch {
      // a session connected meanwhile: left for a later run
    } finally {
      await admin.query('SELECT pg_advisory_unlock($1, hashtext($2))', [TEMPLATE_LOCK, t]);
    }
  }
}

/** Makes the template `name` when missing. Called under its shared advisory lock. */
async function migratedTemplate(admin: pg.Client, name: string): Promise<void> {
  const exists = async (db: string) =>
    (await admin.query('SELECT 1 FROM pg_database WHERE datname = $1', [db])).rowCount === 1;
  if (await exists(name)) return;
  // Migrated under a name of its own, then renamed: a file that finds the template finds it whole.
  const building = `${name}_${process.pid}`;
  await admin.query(`DROP DATABASE IF EXISTS ${building}`);
  await admin.query(`CREATE DATABASE ${building}`);
  const store = await openDatabase({ dataDir: '', databaseUrl: urlOf(building), maxConnections: 1 });
  try {
    await migrateToLatest(store.db);
  } finally {
    await store.close();
  }
  if (await exists(name)) await admin.query(`DROP DATABASE ${building}`);
  else await admin.query(`ALTER DATABASE ${building} RENAME TO ${name}`);
}

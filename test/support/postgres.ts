// Test support: a fresh PostgreSQL database per test file on the local server
// (127.0.0.1:5432, trust auth). KILN_TEST_PG_URL overrides the admin URL.
import { createHash } from 'node:crypto';
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import pg from 'pg';
import { openDatabase } from '../../src/store/database.js';
import { migrateToLatest } from '../../src/store/migrate.js';

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
    const template = o.migrated ? await migratedTemplate(admin) : undefined;
    await admin.query(`CREATE DATABASE ${name}${template ? ` TEMPLATE ${template}` : ''}`);
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

/**
 * `kiln_tpl_<hash of the migration files>`, made when missing. Templates of other migration sets are left alone: a
 * test of another checkout may be cloning one right now.
 */
async function migratedTemplate(admin: pg.Client): Promise<string> {
  const hash = createHash('sha256');
  for (const f of readdirSync(migrationsDir).sort()) hash.update(f).update(readFileSync(join(migrationsDir, f)));
  const name = `kiln_tpl_${hash.digest('hex').slice(0, 16)}`;
  const exists = async (db: string) =>
    (await admin.query('SELECT 1 FROM pg_database WHERE datname = $1', [db])).rowCount === 1;
  if (await exists(name)) return name;
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
  return name;
}

// Test support: a fresh PostgreSQL database per test file on the local server
// (127.0.0.1:5432, trust auth). KILN_TEST_PG_URL overrides the admin URL.
import pg from 'pg';

const adminUrl = process.env.KILN_TEST_PG_URL ?? 'postgres://postgres@127.0.0.1:5432/test';

/** A throw-away database: `url` to connect, `drop()` to remove it. */
export interface TempPostgres {
  url: string;
  drop(): Promise<void>;
}

/** Creates database `kiln_t<pid>_<n>`; throws a clear error when the server is not running. */
export async function createTempPostgres(tag: string): Promise<TempPostgres> {
  const name = `kiln_t${process.pid}_${tag}_${Date.now() % 100000}`.toLowerCase().replace(/[^a-z0-9_]/g, '_');
  const admin = new pg.Client({ connectionString: adminUrl, connectionTimeoutMillis: 5000 });
  try {
    await admin.connect();
  } catch (err) {
    throw new Error(
      `PostgreSQL is not reachable at ${adminUrl} (${(err as Error).message}); start it with: pg_ctlcluster --skip-systemctl-redirect $(ls /etc/postgresql) main start`,
    );
  }
  await admin.query(`CREATE DATABASE ${name}`);
  await admin.end();
  const url = new URL(adminUrl);
  url.pathname = `/${name}`;
  return {
    url: url.toString(),
    async drop() {
      const c = new pg.Client({ connectionString: adminUrl });
      await c.connect();
      await c.query(`DROP DATABASE IF EXISTS ${name} WITH (FORCE)`);
      await c.end();
    },
  };
}

// Test support: a whole controller on an in-memory SQLite with the shipped
// profiles and a throw-away SSH CA, with one token per role.
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { openSqlite } from '../../src/store/database.js';
import { migrateToLatest } from '../../src/store/migrate.js';
import { createController, type Controller, type ControllerDeps } from '../../src/controller.js';
import { silentLogger } from '../../src/log/logger.js';
import { loadOrCreateSshCa } from '../../src/trust/ssh/ssh-ca.js';

export const repoProfilesDir = fileURLToPath(new URL('../../profiles', import.meta.url));

export interface TestController extends Controller {
  bearer: { admin: string; operator: string; labeler: string; viewer: string };
  close(): Promise<void>;
}

export async function createTestController(opts: Partial<ControllerDeps> = {}): Promise<TestController> {
  const store = openSqlite(':memory:');
  await migrateToLatest(store.db);
  const sshCa = await loadOrCreateSshCa(join(mkdtempSync(join(tmpdir(), 'kiln-test-ca-')), 'ssh'));
  const c = await createController({
    db: store.db,
    log: silentLogger,
    sshCa,
    profilesDir: repoProfilesDir,
    site: { domain: 'lab.test', timezone: 'UTC', ntp: [], dns: [] },
    urls: () => ({ baseUrl: 'http://192.0.2.1:8080', apiUrl: 'http://192.0.2.1:8080', caPem: '' }),
    seal: (s) => `test-sealed:${Buffer.from(s).toString('base64')}`,
    open: (s) => Buffer.from(s.slice(12), 'base64').toString(),
    secretsNeedTls: false,
    ...opts,
  });
  const mk = async (role: 'admin' | 'operator' | 'labeler' | 'viewer') =>
    `Bearer ${(await c.tokens.create({ name: `t-${role}`, role }, 'test')).token}`;
  const bearer = {
    admin: await mk('admin'),
    operator: await mk('operator'),
    labeler: await mk('labeler'),
    viewer: await mk('viewer'),
  };
  return {
    ...c,
    bearer,
    close: async () => {
      await c.app.close();
      await store.close();
    },
  };
}

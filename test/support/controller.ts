// Test support: a whole controller on an in-memory SQLite, with one token per role.
import { openSqlite } from '../../src/store/database.js';
import { migrateToLatest } from '../../src/store/migrate.js';
import { createController, type Controller } from '../../src/controller.js';
import { silentLogger } from '../../src/log/logger.js';

export interface TestController extends Controller {
  tokens: Controller['tokens'];
  bearer: { admin: string; operator: string; viewer: string };
  close(): Promise<void>;
}

export async function createTestController(opts: { bodyLimit?: number } = {}): Promise<TestController> {
  const store = openSqlite(':memory:');
  await migrateToLatest(store.db);
  const c = await createController({
    db: store.db, log: silentLogger, bodyLimit: opts.bodyLimit,
    seal: (s) => `test-sealed:${Buffer.from(s).toString('base64')}`,
    open: (s) => Buffer.from(s.slice(12), 'base64').toString(),
  });
  const mk = async (role: 'admin' | 'operator' | 'viewer') => `Bearer ${(await c.tokens.create({ name: `t-${role}`, role }, 'test')).token}`;
  const bearer = { admin: await mk('admin'), operator: await mk('operator'), viewer: await mk('viewer') };
  return { ...c, bearer, close: async () => { await c.app.close(); await store.close(); } };
}

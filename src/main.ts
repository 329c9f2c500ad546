// The composition root of `kiln serve`: config → store → services → servers,
// all under one AbortController; the first fatal error stops everything.
import { join } from 'node:path';
import pino from 'pino';
import type { Config } from './config/load.js';
import { createController } from './controller.js';
import type { Logger } from './log/logger.js';
import { openDatabase } from './store/database.js';
import { migrateToLatest } from './store/migrate.js';
import { loadSecretBox } from './inventory/bmc-secret-box.js';

/** A running controller: `address` is the URL it listens on; `stop()` closes servers and the store. */
export interface RunningController {
  address: string;
  adminToken: string | null;
  stop(): Promise<void>;
}

function splitListen(listen: string): { host: string; port: number } {
  const i = listen.lastIndexOf(':');
  return { host: listen.slice(0, i).replace(/^\[|\]$/g, ''), port: Number(listen.slice(i + 1)) };
}

/** Starts the controller with a validated config. Throws KilnError (store_unavailable, config_invalid) on start-up failure. */
export async function runServe(config: Config, opts: { print?: (line: string) => void } = {}): Promise<RunningController> {
  const v = config.values;
  const dataDir = String(v['data-dir']);
  const pinoLog = pino({ level: String(v['log-level']), base: { service: 'kiln' }, redact: { paths: ['req.headers.authorization', '*.password', 'password'], censor: '[redacted]' } });
  const log = pinoLog as unknown as Logger;
  const store = await openDatabase({ dataDir, databaseUrl: v['database-url'] as string | undefined });
  try {
    const applied = await migrateToLatest(store.db);
    log.info({ store: store.describe, applied }, 'store ready');
    const box = await loadSecretBox(dataDir);
    const controller = await createController({
      db: store.db, log, httpLogger: pinoLog, bodyLimit: Number(v['body-limit']),
      seal: box.seal, open: box.open,
    });
    const adminTokenFile = String(v['admin-token-file'] ?? join(dataDir, 'admin-token'));
    const adminToken = await controller.tokens.ensureFirstAdmin(adminTokenFile);
    if (adminToken) {
      (opts.print ?? ((l) => process.stdout.write(`${l}\n`)))(
        `First start: created admin token (shown once, also saved to ${adminTokenFile} mode 0600):\n  ${adminToken}`);
    }
    const { host, port } = splitListen(String(v['listen']));
    const address = await controller.app.listen({ host, port });
    log.info({ address, dataDir }, 'kiln controller listening');
    return {
      address, adminToken,
      async stop() {
        await controller.app.close();
        await store.close();
      },
    };
  } catch (err) {
    await store.close().catch(() => {});
    throw err;
  }
}

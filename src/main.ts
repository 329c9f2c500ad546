// The composition root of `kiln serve`: config → store → services → servers,
// all under one AbortController; the first fatal error stops everything.
import { hostname, networkInterfaces } from 'node:os';
import { join } from 'node:path';
import pino from 'pino';
import type { Config } from './config/load.js';
import { createController } from './controller.js';
import type { Logger } from './log/logger.js';
import type { SiteContext } from './template/render-context.js';
import { openDatabase } from './store/database.js';
import { migrateToLatest } from './store/migrate.js';
import { openSecret, sealSecret } from './trust/credential/secret-box.js';
import { loadTrust } from './trust/load-trust.js';

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

/** The first non-internal IPv4 address, for the default public URL. */
function firstIpv4(): string {
  const a = Object.values(networkInterfaces()).flat().find((x) => x && x.family === 'IPv4' && !x.internal);
  return a?.address ?? '127.0.0.1';
}

/** Site settings from the `site:` section of the config file (domain, timezone, ntp, dns). */
function siteOf(section: unknown): SiteContext {
  const s = (section && typeof section === 'object' ? section : {}) as Record<string, unknown>;
  const list = (v: unknown) => (Array.isArray(v) ? v.map(String) : []);
  return { ...s, domain: String(s['domain'] ?? 'kiln.internal'), timezone: String(s['timezone'] ?? 'UTC'), ntp: list(s['ntp']), dns: list(s['dns']) };
}

/** Names for the API certificate: this machine's host name, localhost and every local address. */
function serverNames(listen: string): { dnsNames: string[]; ipAddresses: string[] } {
  const ips = Object.values(networkInterfaces()).flatMap((l) => (l ?? []).map((a) => a.address.split('%')[0]!));
  const bound = splitListen(listen).host;
  return { dnsNames: [...new Set([hostname(), 'localhost'])], ipAddresses: [...new Set([...ips, ...(bound && bound !== '0.0.0.0' && bound !== '::' ? [bound] : [])])] };
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
    const trust = await loadTrust({ dataDir, server: { kind: 'issue', ...serverNames(String(v['listen'])) }, logger: log });
    const { host, port } = splitListen(String(v['listen']));
    const baseUrl = String(v['public-url'] ?? `http://${host === '0.0.0.0' || host === '::' ? firstIpv4() : host}:${port}`);
    const controller = await createController({
      db: store.db, log, httpLogger: pinoLog, bodyLimit: Number(v['body-limit']), nodeRateLimit: Number(v['node-rate-limit']),
      sshCa: trust.sshCa, profilesDir: String(v['profiles-dir']), site: siteOf(config.sections['site']),
      urls: () => ({ baseUrl, apiUrl: baseUrl, caPem: trust.tlsCa.certPem }),
      seal: (clear) => sealSecret(trust.dataKey, clear, 'bmc'), open: (sealed) => openSecret(trust.dataKey, sealed, 'bmc'),
    });
    const adminTokenFile = String(v['admin-token-file'] ?? join(dataDir, 'admin-token'));
    const adminToken = await controller.tokens.ensureFirstAdmin(adminTokenFile);
    if (adminToken) {
      (opts.print ?? ((l) => process.stdout.write(`${l}\n`)))(
        `First start: created admin token (shown once, also saved to ${adminTokenFile} mode 0600):\n  ${adminToken}`);
    }
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

import { randomBytes, randomUUID } from 'node:crypto';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createImageStore } from './image/image-store.js';
import { buildInstallPlan } from './image/install-plan.js';
import { imageRoutes } from './image/routes.js';
import type { Logger as PinoLogger } from 'pino';
import type { Kysely } from 'kysely';
import { buildApp, type DomainPlugin } from './api/build-app.js';
import { bootFilesPlugin } from './boot/http/boot-files.js';
import { createBootFileCache, DEFAULT_BOOT_CACHE_BYTES } from './boot/http/boot-file-cache.js';
import { bootRoutes } from './boot/http/boot-routes.js';
import { leaseRoutes } from './boot/dhcp/lease-routes.js';
import { countActiveLeases, createSqlLeaseStore } from './boot/dhcp/sql-lease-store.js';
import { countHostsByState } from './inventory/sql-host-store.js';
import { hostStates } from './inventory/lifecycle.js';
import { createMetrics, type Metrics } from './metrics/metrics.js';
import { metricsRoutes } from './metrics/routes.js';
import { createBootService } from './boot/http/boot-service.js';
import type { NodeImage } from './boot/http/host-script.js';
import { nodeImageRoutes, profileFilesRoutes } from './boot/http/profile-files-routes.js';
import { tokenRoutes } from './auth/routes.js';
import { createTokenService } from './auth/token-service.js';
import { createUserService } from './auth/user-service.js';
import { userRoutes } from './auth/user-routes.js';
import { createDeployService, type PowerRequest } from './deploy/deploy-service.js';
import type { KilnUrls } from './deploy/render-context.js';
import { deployRoutes } from './deploy/routes.js';
import { createInstallTokens } from './deploy/install-token.js';
import { isNotFound } from './error/kiln-error.js';
import { eventRoutes } from './event/routes.js';
import { createInventoryService } from './inventory/inventory-service.js';
import type { Mac } from './inventory/mac.js';
import { hostRoutes } from './inventory/routes.js';
import type { Logger } from './log/logger.js';
import { createNodeService } from './node/node-service.js';
import { createHostPower, type HostPowerConfig } from './power/host-power.js';
import { powerRoutes } from './power/routes.js';
import { nodeAdminRoutes, nodeRoutes, nodeSource } from './node/routes.js';
import { createSecretsService } from './node/secrets-service.js';
import { secretsRoutes } from './node/secrets-routes.js';
import { getNodeTrust } from './node/sql-node-trust-store.js';
import { createProfileCatalog } from './profile/profile-catalog.js';
import { profileRoutes } from './profile/routes.js';
import { ruleRoutes } from './rule/routes.js';
import { createSshService } from './ssh/ssh-service.js';
import { sshRoutes } from './ssh/routes.js';
import type { SiteContext } from './template/render-context.js';
import type { SshCa } from './trust/ssh/ssh-ca.js';

/** What the controller is built from: an open, migrated database, the keys, and where profiles live. */
export interface ControllerDeps {
  db: Kysely<any>;
  seal: (clear: string) => string;
  open: (sealed: string) => string;
  sshCa: SshCa;
  profilesDir: string;
  site: SiteContext;
  /** Where nodes reach this controller (may change once the listen address is known). */
  urls: () => KilnUrls;
  log: Logger;
  httpLogger?: PinoLogger | false;
  bodyLimit?: number;
  nodeRateLimit?: number;
  sshHostValidityDays?: number;
  now?: () => Date;
  /** The MAC holding a DHCP lease on an address (from the DHCP server), for node credential checks. */
  leaseOwner?: (ip: string) => Promise<Mac | null>;
  /** Power requests of deploy/release (one-time network boot + power cycle); default: the host power service's. */
  power?: PowerRequest;
  /** Power queue limits and extra drivers (tests, `--dev`'s fake); defaults when absent. */
  powerConfig?: Partial<HostPowerConfig>;
  /** Boot files: Debian's iPXE binaries, and Kiln's node image (null until built). */
  boot?: { ipxeDir?: string; nodeImage?: () => (NodeImage & { dir: string }) | null; nodeImageArgs?: string; imagesDir?: string; cacheBytes?: number };
  /** Refuse node secret fetches over plain HTTP (default true; in-process tests without TLS turn it off). */
  secretsNeedTls?: boolean;
  /** Extra route plugins (boot files, power) added by `main`. */
  extraPlugins?: DomainPlugin[];
  /** Key of the install-file URL tokens (32 bytes, the same on every controller of one store); default: random (one process only). */
  installTokenKey?: Uint8Array;
  /** Life of an install token when the install does not end first (default 24 h). */
  installTokenTtlMs?: number;
  /** Prometheus metrics; default: a new registry reading hosts and leases from `db`, with process metrics. */
  metrics?: Metrics;
}

/**
 * Wires services and the HTTP app in one place, for `main` and for tests
 * (which pass an in-memory SQLite). Does not listen.
 */
export async function createController(deps: ControllerDeps) {
  const { db, log } = deps;
  const inventory = createInventoryService({ db, seal: deps.seal, open: deps.open, log: log.child({ domain: 'inventory' }), now: deps.now });
  const tokens = createTokenService({ db, log: log.child({ domain: 'auth' }), now: deps.now });
  const users = createUserService({ db, tokens, log: log.child({ domain: 'auth' }), now: deps.now });
  const node = createNodeService({ db, inventory, log: log.child({ domain: 'node' }), now: deps.now, failureLimit: deps.nodeRateLimit, leaseOwner: deps.leaseOwner });
  const secrets = createSecretsService({ db, now: deps.now });
  const ssh = createSshService({ db, ca: deps.sshCa, inventory, domain: deps.site.domain, hostValidityDays: deps.sshHostValidityDays ?? 365, now: deps.now });
  const profiles = createProfileCatalog(deps.profilesDir, log.child({ domain: 'profile' }));
  await profiles.reload();
  const power = createHostPower({ inventory, config: deps.powerConfig, logger: log.child({ domain: 'power' }) });
  // Release and retire revoke the host's SSH certificates; a host with none is fine.
  const revokeCertificates = async (hostId: string, actor: string, reason: string) => {
    await ssh.revoke({ hostId }, actor, reason).catch((err: unknown) => { if (!isNotFound(err)) throw err; });
  };
  const installTokens = createInstallTokens({ db, inventory, key: deps.installTokenKey ?? randomBytes(32), ttlMs: deps.installTokenTtlMs, now: deps.now });
  const deploy = createDeployService({ db, inventory, node, profiles, site: deps.site, urls: deps.urls, power: deps.power ?? power.request, now: deps.now, newId: randomUUID, installTokens, revokeCertificates });
  const images = createImageStore(deps.boot?.imagesDir ?? join(tmpdir(), 'kiln-no-images'));
  const nodeImage = deps.boot?.nodeImage ?? (() => null);
  const boot = createBootService({ db, inventory, baseUrl: () => deps.urls().baseUrl, nodeImage, nodeImageArgs: deps.boot?.nodeImageArgs, log: log.child({ domain: 'boot' }), fillInstallToken: installTokens.fillDeployment });
  // One memory budget for every boot-file route (kernels, initrds, iPXE binaries, images).
  const cache = createBootFileCache(deps.boot?.cacheBytes ?? DEFAULT_BOOT_CACHE_BYTES);
  const bootFiles: DomainPlugin[] = [
    { plugin: bootRoutes, options: { boot }, prefix: '' },
    { plugin: profileFilesRoutes, options: { profiles, cache }, prefix: '' },
    ...(deps.boot?.ipxeDir ? [{ plugin: bootFilesPlugin, options: { root: deps.boot.ipxeDir, urlPrefix: '/ipxe/', cache }, prefix: '' }] : []),
    ...(deps.boot?.imagesDir ? [{ plugin: bootFilesPlugin, options: { root: deps.boot.imagesDir, urlPrefix: '/images/', cache }, prefix: '' }] : []),
    { plugin: nodeImageRoutes, options: { nodeImage, cache }, prefix: '' },
  ];
  const metrics = deps.metrics ?? createMetrics({
    hostsByState: () => countHostsByState(db), hostStates,
    activeLeases: () => countActiveLeases(db, (deps.now ?? (() => new Date()))().getTime()),
  });
  const app = await buildApp({
    logger: deps.httpLogger ?? false,
    bodyLimit: deps.bodyLimit,
    onResponse: metrics.observeHttp,
    auth: { token: (t) => tokens.authenticate(t), node: (t, req) => node.authenticate(t, nodeSource(req)) },
    plugins: [
      { plugin: hostRoutes, options: { inventory, revokeCertificates } },
      { plugin: eventRoutes, options: { listEvents: inventory.listEvents } },
      // Reads the durable lease table directly: every controller on a shared store sees every lease, DHCP on or off here.
      { plugin: leaseRoutes, options: { listLeases: createSqlLeaseStore(db).list, now: deps.now } },
      { plugin: tokenRoutes, options: { tokens, now: deps.now } },
      { plugin: userRoutes, options: { users } },
      { plugin: nodeRoutes, options: { node, db, secrets, secretsNeedTls: deps.secretsNeedTls ?? true, installTokens,
        installPlan: async (spec: Record<string, unknown>, hostId: string) => buildInstallPlan(spec, images.get(String(spec['name'])), await inventory.getHost(hostId), deps.urls().baseUrl) } },
      { plugin: imageRoutes, options: { images } },
      { plugin: nodeAdminRoutes, options: { node, inventory } },
      { plugin: secretsRoutes, options: { secrets, inventory } },
      { plugin: sshRoutes, options: { ssh, inventory, lastIp: async (id: string) => (await getNodeTrust(db, id)).lastIp } },
      { plugin: profileRoutes, options: { profiles } },
      { plugin: ruleRoutes, options: { db, profileExists: (n: string) => profiles.has(n) } },
      { plugin: deployRoutes, options: { deploy, inventory, db } },
      { plugin: powerRoutes, options: { power } },
      { plugin: metricsRoutes, options: { registry: metrics.registry }, prefix: '' },
      ...bootFiles,
      ...(deps.extraPlugins ?? []),
    ],
  });
  return { app, db, images, inventory, tokens, users, boot, node, secrets, ssh, profiles, deploy, power, metrics, installTokens };
}

/** The controller's type, for tests and `main`. */
export type Controller = Awaited<ReturnType<typeof createController>>;

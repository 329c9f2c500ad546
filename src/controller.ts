import type { TangPlanState } from './machine/plan-storage.js';
import { randomBytes, randomUUID } from 'node:crypto';
import { hostname, tmpdir } from 'node:os';
import { join } from 'node:path';
import { createImageStore } from './image/image-store.js';
import { buildInstallPlan } from './image/install-plan.js';
import { createSquashfsRoots } from './image/squashfs-root.js';
import { imageRoutes } from './image/routes.js';
import { createImageCatalog } from './image/image-catalog.js';
import { verifyRoutes } from './image/verify-routes.js';
import { objectRelPath } from './image/objects/object-store.js';
import { createPeerContent, type FetchFromPeers } from './image/objects/peer-content.js';
import { imageObjectRoutes } from './boot/http/image-object-routes.js';
import type { Logger as PinoLogger } from 'pino';
import type { Kysely } from 'kysely';
import type { Database } from './schema.js';
import { buildApp, domain, type DomainPlugin, type HttpExchange } from './api/build-app.js';
import { bootFilesPlugin } from './boot/http/boot-files.js';
import { defaultBootFiles } from './boot/boot-decision.js';
import { createBootFileCache, DEFAULT_BOOT_CACHE_BYTES } from './boot/http/boot-file-cache.js';
import { bootRoutes } from './boot/http/boot-routes.js';
import { leaseRoutes } from './boot/dhcp/lease-routes.js';
import { countActiveLeases, createSqlLeaseStore, listBoundAddresses } from './boot/dhcp/sql-lease-store.js';
import { hostStates } from './inventory/lifecycle.js';
import { createMetrics, type Metrics } from './metrics/metrics.js';
import { defaultAdmissionRules, memberLoadOf, withPeers, type HeadroomSample } from './power/admission.js';
import { createPeerLoads } from './power/peer-loads.js';
import { watchLoopDelay, type LoopDelay } from './runtime/loop-delay.js';
import { metricsRoutes } from './metrics/routes.js';
import { createBootBackend } from './boot/boot-backend.js';
import { createBootService } from './boot/http/boot-service.js';
import { createLoadingGate, defaultLoadingGateRules, type LoadingGateRules } from './boot/http/loading-gate.js';
import { newLoadingOrigin, notifyLoaded } from './boot/http/loading-notify.js';
import { createBootFastPath } from './boot/http/boot-fast-path.js';
import { createDiscoveryPolicy, type DiscoverySettings, type ServedSubnet } from './boot/discovery-policy.js';
import type { NodeImage } from './boot/http/host-script.js';
import { nodeImageRoutes, profileFilesRoutes } from './boot/http/profile-files-routes.js';
import { createNodeImageSource } from './discovery/node-image-source.js';
import { tokenRoutes } from './auth/routes.js';
import type { RequestLogMode } from './api/request-log.js';
import { createTokenService } from './auth/token-service.js';
import { createUserService } from './auth/user-service.js';
import { userRoutes } from './auth/user-routes.js';
import { createLoginLimiter, defaultLoginLimit } from './auth/login-limiter.js';
import { uiRoutes } from './ui/ui-routes.js';
import { createAbRollback, type AbReport } from './deploy/ab-rollback.js';
import { createDeployService, type PowerRequest } from './deploy/deploy-service.js';
import type { KilnUrls } from './deploy/render-context.js';
import type { MachineSubnet } from './machine/machine-facts.js';
import { deployRoutes } from './deploy/routes.js';
import { createInstallTokens } from './deploy/install-token.js';
import { isNotFound } from './error/kiln-error.js';
import { eventRoutes } from './event/routes.js';
import { createEventFeed } from './event/event-feed.js';
import { appendEvent, listEvents } from './event/event-log.js';
import { isPostgres } from './store/database.js';
import { storeAdmissionQuota, storeFailureCounter } from './ratelimit/shared-limits.js';
import { withTransaction } from './store/transaction.js';
import { eventStreamRoutes } from './event/stream-routes.js';
import { createInventoryService } from './inventory/inventory-service.js';
import { parseMac, type Mac } from './net/mac.js';
import { hostRoutes, type RevokeCertificates } from './inventory/routes.js';
import { labelRoutes } from './inventory/label-routes.js';
import type { Logger } from './log/logger.js';
import { createNodeService } from './node/node-service.js';
import { createHostPower, type HostPowerConfig } from './power/host-power.js';
import { powerRoutes } from './power/routes.js';
import { nodeAdminRoutes, nodeRoutes, nodeSource } from './node/routes.js';
import { createSecretsService } from './node/secrets-service.js';
import { secretsRoutes } from './node/secrets-routes.js';
import { createProfileCatalog } from './profile/profile-catalog.js';
import { profileRoutes } from './profile/routes.js';
import { createRuleService } from './rule/rule-service.js';
import { ruleRoutes } from './rule/routes.js';
import { createSshService } from './ssh/ssh-service.js';
import { sshRoutes } from './ssh/routes.js';
import type { SiteContext } from './template/render-context.js';
import { createTemplateRenderer } from './template/render-pool.js';
import type { SshCa } from './trust/ssh/ssh-ca.js';
import { openLogStore } from './syslog/log-store.js';
import { createSyslogService } from './syslog/syslog-service.js';
import { syslogTriggers } from './syslog/triggers.js';
import { startIngestWorker } from './syslog/ingest-worker-client.js';
import { syslogRoutes } from './syslog/routes.js';
import { defaultSyslogConfig, type SyslogConfig } from './syslog/syslog-config.js';
import { createSqlTimelineStore } from './timeline/sql-timeline-store.js';
import { httpObservation } from './timeline/http-observation.js';
import { createTimelineService, type TimelineHost } from './timeline/timeline-service.js';
import { createBootObservers } from './timeline/boot-observer.js';
import { timelineRoutes } from './timeline/routes.js';
import { defaultTimelineConfig, type TimelineConfig } from './timeline/timeline-config.js';
import type { Host } from './inventory/host.js';
import { defaultHookConfig, type HookConfig } from './hook/hook-config.js';
import { createHookService } from './hook/hook-service.js';
import { createHookWorker } from './hook/hook-worker.js';
import { hookRoutes } from './hook/routes.js';
import { defaultHeartbeatConfig, type HeartbeatConfig } from './heartbeat/heartbeat-config.js';
import { createHeartbeatService } from './heartbeat/heartbeat-service.js';
import { createSqlHealthStore } from './heartbeat/sql-health-store.js';
import { heartbeatRoutes } from './heartbeat/routes.js';
import { readAgentFile } from './heartbeat/agent-files.js';
import { checkRepo, type RepoCheck } from './repo/check-repo.js';
import { repoLayout } from './repo/repo-layout.js';
import { repoProfilesOf } from './repo/repo-profile.js';
import { repoRoutes } from './repo/routes.js';
import { createRepoMembers } from './repo/repo-members.js';
import type { FetchRepoFile, RepoPeer } from './repo/peer-tree.js';
import { mkdirSync } from 'node:fs';
import { createCheckRegistry } from './doctor/check.js';
import { createDoctor } from './doctor/doctor.js';
import { defaultDoctorConfig, type DoctorConfig } from './doctor/doctor-config.js';
import { doctorRoutes } from './doctor/routes.js';
import { clusterRoutes } from './cluster/routes.js';
import { listControllers } from './cluster/cluster-view.js';
import { defaultClusterConfig, type ClusterConfig } from './cluster/cluster-config.js';
import { joinRoutes } from './cluster/join-routes.js';
import { contentRoutes, type HashedContentKind } from './cluster/content-routes.js';
import { createPeerImages } from './image/peer-images.js';
import { tarballFromPeers, tarballPathOf } from './image/tarball-files.js';
import type { MemberTrust } from './cluster/member-trust.js';
import { createSelfTestService } from './selftest/self-test-service.js';
import { selfTestRoutes } from './selftest/routes.js';

/** The actor of the power-on that wakes a host for an operator's self-test run. */
const selfTestActor = 'kiln:self-test';

/** What the controller is built from: an open, migrated database, the keys, and where profiles live. */
export interface ControllerDeps {
  db: Kysely<Database>;
  /** Seal and open BMC passwords under a context (`host:<id>:bmc`). */
  seal: (clear: string, context: string) => string;
  open: (sealed: string, context: string) => string;
  sshCa: SshCa;
  profilesDir: string;
  site: SiteContext;
  /** Kiln's DHCP subnets, for machine descriptions' `reservation` addresses (default: none). */
  machineSubnets?: MachineSubnet[];
  /** Kiln's Tang server for LUKS volumes (`storage.encrypted`), or why there is none (default: off). */
  tang?: () => TangPlanState;
  /** Where nodes reach this controller (may change once the listen address is known). */
  urls: () => KilnUrls;
  log: Logger;
  httpLogger?: PinoLogger | false;
  /** Which API requests the access log writes at info (`log-requests`, src/api/request-log.ts). @default 'changes' */
  logRequests?: RequestLogMode;
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
  boot?: {
    ipxeDir?: string;
    ipxeBootFiles?: readonly string[];
    /** This member's own node image, null until ready; `version` absent (tests): not recorded or shared. */
    nodeImage?: () => (NodeImage & { dir: string }) | null;
    /** Where node image files fetched from peers are kept (main: `<data-dir>/cache/node-image-peers`); absent: none are. */
    nodeImageCopiesDir?: string;
    /** This member's own build of a version, if it is in the cache (main: `<data-dir>/cache/discovery/<version>`); absent: none. */
    nodeImageBuiltDir?: (version: string, arch: string) => string | null;
    nodeImageArgs?: string;
    imagesDir?: string;
    cacheBytes?: number;
    /** The boot waiting room's rules (`boot.max-loading`); defaults when absent. */
    loadingGate?: Partial<LoadingGateRules>;
  };
  /** Refuse node secret fetches over plain HTTP (default true; in-process tests without TLS turn it off). */
  secretsNeedTls?: boolean;
  /** Extra route plugins (boot files, power) added by `main`. */
  extraPlugins?: DomainPlugin[];
  /** Discovery policy settings and the subnets Kiln's DHCP serves (empty: DHCP off); default: auto, 1000 per subnet per minute, DHCP off. */
  discovery?: { settings: DiscoverySettings; subnets: readonly ServedSubnet[] };
  /** Template limits (`template-timeout-ms`, `template-max-output-kib`); defaults when absent. */
  templates?: { timeoutMs?: number; maxOutputKib?: number };
  /** Key of the install-file URL tokens (32 bytes, the same on every controller of one store); default: random (one process only). */
  installTokenKey?: Uint8Array;
  /** Life of an install token when the install does not end first (default 24 h). */
  installTokenTtlMs?: number;
  /** Syslog retention and queue limits (the `syslog:` section); defaults when absent. The receiver is started by `main`. */
  syslog?: SyslogConfig;
  /** Boot timeline deadlines, session rule and retention (the `timeline:` section); defaults when absent. Started by `main`. */
  timeline?: TimelineConfig;
  /** The syslog log store's file (main: data-dir/syslog.sqlite); default ':memory:' (tests). */
  syslogStoreFile?: string;
  /** Live events (GET /api/v1/events/stream): store poll interval, heartbeat, per-subscriber queue bound. */
  eventStream?: { pollMs?: number; heartbeatMs?: number; maxQueued?: number };
  /** Outbound hooks (the `hooks:` section); defaults when absent. The worker is started by `main`. */
  hooks?: HookConfig;
  /** Heartbeat interval, missed count, check and flush intervals (the `heartbeat:` section); defaults when absent. Started by `main`. */
  heartbeat?: HeartbeatConfig;
  /** The self-check's settings (the `doctor:` section); only `timeoutSeconds` is read here (main reads the rest). */
  doctor?: Pick<DoctorConfig, 'timeoutSeconds'>;
  /** When `kiln controller list` calls a member unhealthy (the `cluster:` section); the elector is started by `main`. */
  cluster?: Pick<ClusterConfig, 'staleSeconds'>;
  /**
   * The members' CAs and healthy URLs, and joins (src/cluster/member-trust.ts): `main` builds and starts it; absent
   * (tests): this controller's CAs and URL alone, and no join routes.
   */
  memberTrust?: MemberTrust;
  /**
   * Content shared with the other members (docs/cluster.md, "Content between members"): `fetch` asks the peers for
   * an object or manifest this controller lacks (src/cluster/peer-fetch.ts); `verify` checks a peer's member
   * credential and returns its id (src/cluster/member-credential.ts). Absent (tests): a missing id is a 404 and the
   * member route refuses every call.
   */
  members?: {
    fetch: FetchFromPeers;
    verify: (header: string | undefined, method: string, path: string) => string;
    /** The running members with HTTPS and their repo keys, and a fetch of one file of a peer's published repo subset. */
    repo?: {
      peers: () => Promise<RepoPeer[]>;
      fetch: FetchRepoFile;
      /** Take a peer's newer subset without being asked (cluster.repoSync; src/repo/repo-members.ts). @default false */
      background?: boolean;
    };
    /**
     * Admission control across members (docs/power.md, "Several members"): the other running members' published
     * loads (JSON as stored), and how old one may be to count (ms). With it, this controller's `memberLoad()` is
     * what its heartbeat publishes, and its batches are paced by every member's headroom.
     */
    loads?: { read: () => Promise<Array<{ name: string; load: string | null }>>; maxAgeMs: number };
  };
  /** The repo subset (`kiln repo sync`) under this data directory: served at /repo/, checked by GET /api/v1/repo/check; absent: neither. */
  repo?: { dataDir: string };
  /** Prometheus metrics; default: a new registry reading hosts and leases from `db`, with process metrics. */
  metrics?: Metrics;
}

/**
 * Wires services and the HTTP app in one place, for `main` and for tests
 * (which pass an in-memory SQLite). Does not listen.
 */
export async function createController(deps: ControllerDeps) {
  const { db, log } = deps;
  // checkBmc reaches `power`, built below (the inventory is its dependency); it is only called per request.
  const inventory = createInventoryService({
    db,
    seal: deps.seal,
    open: deps.open,
    checkBmc: (b) => power.checkBmc(b),
    log: log.child({ domain: 'inventory' }),
    now: deps.now,
  });
  const tokens = createTokenService({ db, log: log.child({ domain: 'auth' }), now: deps.now });
  const users = createUserService({ db, tokens, log: log.child({ domain: 'auth' }), now: deps.now });
  const discoverySettings = deps.discovery?.settings ?? {
    mode: 'auto',
    allow: [],
    perSubnetPerMinute: 1000,
    bootSourceRanges: [],
  };
  // Several controllers on one PostgreSQL store: the discovery and node-credential limits are counted in the store
  // and hold in total (src/ratelimit); on SQLite the one controller counts in memory.
  const shared = isPostgres(db);
  const discovery = createDiscoveryPolicy({
    settings: discoverySettings,
    ...(shared
      ? {
          quota: storeAdmissionQuota({
            db,
            limiter: 'discovery',
            limit: discoverySettings.perSubnetPerMinute,
            now: deps.now ? () => deps.now!().getTime() : undefined,
            log: log.child({ domain: 'ratelimit' }),
          }),
        }
      : {}),
    subnets: deps.discovery?.subnets ?? [],
    leaseOwner: deps.leaseOwner ?? (async () => null),
    record: (e) => inventory.recordEvent(e),
    log: log.child({ domain: 'discovery' }),
    now: deps.now ? () => deps.now!().getTime() : undefined,
  });
  const secrets = createSecretsService({ db, now: deps.now });
  const ssh = createSshService({
    db,
    ca: deps.sshCa,
    inventory,
    domain: deps.site.domain,
    hostValidityDays: deps.sshHostValidityDays ?? 365,
    ...(deps.memberTrust ? { memberCas: () => deps.memberTrust!.sshCaKeys() } : {}),
    now: deps.now,
  });
  const profiles = createProfileCatalog(deps.profilesDir, log.child({ domain: 'profile' }));
  await profiles.reload();
  const rules = createRuleService({ db, profileExists: (n) => profiles.has(n), now: deps.now });
  // Admission control of batch power-on (src/power/admission.ts) reads the data plane's headroom: the servers'
  // load (metrics, watched once they start), HTTP requests in flight, and the timeline's boots in progress.
  let httpInFlight = 0;
  const loopDelay = watchLoopDelay();
  const loadingGateRules = { ...defaultLoadingGateRules, ...deps.boot?.loadingGate };
  const loadingGate = createLoadingGate(loadingGateRules);
  const nowMs = () => (deps.now ?? (() => new Date()))().getTime();
  const roomNow = () => {
    const r = loadingGate.stats(nowMs());
    return { loading: r.loading, waiting: r.waiting };
  };
  const localSample = (delay: LoopDelay): Omit<HeadroomSample, 'at'> => {
    const load = metrics.dataPlane();
    const boots = timeline.bootLoad();
    return {
      dhcpQueued: load.dhcp?.queued ?? null,
      dhcpQueueLimit: load.dhcp?.queueLimit ?? null,
      dhcpShed: load.dhcp?.shed ?? null,
      tftpActive: load.tftpActive,
      tftpLimit: load.tftpLimit,
      httpInFlight,
      loopDelayMs: delay.sinceLast(),
      bootsInProgress: boots.inProgress,
      bootsLate: boots.late,
      bootsStarted: boots.started,
      bootsCompleted: boots.completed,
      bootsCompletedPerS: boots.completedPerS,
      bootMedianMs: boots.medianMs,
      room: loadingGateRules.maxLoading > 0 ? { slots: loadingGateRules.maxLoading, ...roomNow() } : null,
    };
  };
  // Several members: the others' loads, read from the store at most once a second while batches sample them.
  const peerLoads = createPeerLoads(deps.members?.loads, log.child({ domain: 'power' }));
  const headroom = (): Omit<HeadroomSample, 'at'> => withPeers(localSample(loopDelay), peerLoads.now());
  // What this member publishes with its heartbeat: judged on a loop-delay watch of its own (a batch's reads of the
  // other one reset it), against its previous publication.
  let published: HeadroomSample | null = null;
  const publishDelay = deps.members?.loads ? watchLoopDelay() : null;
  const memberLoad = (): string | undefined => {
    if (!publishDelay) return undefined;
    const s: HeadroomSample = { ...localSample(publishDelay), at: Date.now() };
    const load = memberLoadOf(published, s, defaultAdmissionRules);
    published = s;
    return JSON.stringify(load);
  };
  // The boot waiting room starts no new kernel load while TFTP is at 90 % of its transfer limit or DHCP's queue is
  // half full: those stages race firmware timers, a machine waiting for its kernel does not. Read at most every 100 ms.
  let busy = { at: -Infinity, value: false };
  const firmwareStagesBusy = (): boolean => {
    const at = performance.now();
    if (at - busy.at < 100) return busy.value;
    const load = metrics.dataPlane();
    const tftp = load.tftpActive !== null && !!load.tftpLimit && load.tftpActive >= 0.9 * load.tftpLimit;
    const queued = load.dhcp?.queued ?? 0;
    const queueLimit = load.dhcp?.queueLimit ?? 0;
    const dhcp = queueLimit > 0 && queued >= queueLimit / 2;
    busy = { at, value: tftp || dhcp };
    return busy.value;
  };
  const power = createHostPower({
    inventory,
    config: deps.powerConfig,
    logger: log.child({ domain: 'power' }),
    headroom,
  });
  // Release and retire revoke the host's SSH certificates; a host with none is fine.
  const revokeCertificates: RevokeCertificates = async (hostId, actor, reason, tx) => {
    await ssh.revoke({ hostId }, actor, reason, tx).catch((err: unknown) => {
      if (!isNotFound(err)) throw err;
    });
  };
  const installTokens = createInstallTokens({
    db,
    inventory,
    key: deps.installTokenKey ?? randomBytes(32),
    ttlMs: deps.installTokenTtlMs,
    now: deps.now,
    leasedAddresses: (macs, ip) => listBoundAddresses(db, macs, (deps.now ?? (() => new Date()))().getTime(), ip),
  });
  const renderer = createTemplateRenderer({
    timeoutMs: deps.templates?.timeoutMs ?? 2000,
    maxOutputBytes: (deps.templates?.maxOutputKib ?? 4096) * 1024,
    log: log.child({ domain: 'template' }),
  });
  // The node service (built next) arms enrolments; it reads deployments through this service, so it comes after.
  const deploy = createDeployService({
    db,
    inventory,
    armNode: (hostId, reason, actor, tx) => node.arm(hostId, reason, actor, tx),
    profiles,
    site: deps.site,
    urls: deps.urls,
    renderer,
    power: deps.power ?? ((host, action, reason) => power.request(host, action, reason)),
    // A test's own power request (deps.power) boots each host of a batch in turn; the power service paces them.
    ...(deps.power ? {} : { netbootBatch: (hosts, pacing, reason) => power.netbootBatch(hosts, pacing, reason) }),
    now: deps.now,
    newId: randomUUID,
    installTokens,
    revokeCertificates,
    subnets: () => deps.machineSubnets ?? [],
    ...(deps.tang ? { tang: deps.tang } : {}),
  });
  const abRollback = createAbRollback({ db, inventory, now: deps.now });
  const selfTests = createSelfTestService({ db, inventory, now: deps.now, newId: randomUUID });
  const node = createNodeService({
    db,
    inventory,
    selfTests,
    profileDiscovery: (name) => profiles.get(name)?.spec.discovery,
    powerOff: (host, reason) => power.request(host, 'poweroff', reason),
    deployments: deploy,
    rules,
    log: log.child({ domain: 'node' }),
    now: deps.now,
    failureLimit: deps.nodeRateLimit,
    ...(shared
      ? {
          sharedFailures: storeFailureCounter({
            db,
            limiter: 'node-credential',
            limit: deps.nodeRateLimit ?? 20,
            now: deps.now ? () => deps.now!().getTime() : undefined,
            log: log.child({ domain: 'ratelimit' }),
          }),
        }
      : {}),
    leaseOwner: deps.leaseOwner,
    discovery,
  });
  const images = createImageStore(deps.boot?.imagesDir ?? join(tmpdir(), 'kiln-no-images'));
  const squashfsRoots = createSquashfsRoots({ imagesDir: images.dir, log });
  const catalog = createImageCatalog(images);
  const peerContent = deps.members
    ? createPeerContent({ objects: catalog.objects, manifests: catalog.manifests, fetchFromPeers: deps.members.fetch })
    : null;
  // Records and tarballs of images imported on another member (docs/adr/0015-image-records-from-their-importer.md).
  const peerImages =
    deps.members && peerContent
      ? createPeerImages({
          images,
          ensureManifest: (id) => peerContent.ensureManifest(id),
          manifestsDir: catalog.manifests.dir,
          fetchFromPeers: deps.members.fetch,
          log: log.child({ domain: 'cluster' }),
        })
      : null;
  const imageNamed = (name: string) => (peerImages ? peerImages.ensureImage(name) : Promise.resolve(images.get(name)));
  // Kiln's node image: this member's own, or a version another member recorded (docs/adr/0016-node-image-between-members.md).
  const nodeImages = createNodeImageSource({
    db,
    own: deps.boot?.nodeImage ?? (() => null),
    copiesDir: deps.boot?.nodeImageCopiesDir ?? join(tmpdir(), 'kiln-no-node-image-copies'),
    ...(deps.boot?.nodeImageBuiltDir ? { builtDir: deps.boot.nodeImageBuiltDir } : {}),
    ...(deps.members && deps.boot?.nodeImageCopiesDir ? { fetchFromPeers: deps.members.fetch } : {}),
    log: log.child({ domain: 'cluster' }),
  });
  const nodeImage = () => nodeImages.current();
  const leaseTable = createSqlLeaseStore(db);
  const timelineHost = (h: Host): TimelineHost => ({ id: h.id, name: h.name, macs: h.nics.map((n) => n.mac) });
  /** This member's name on `kiln_loading` (loading-notify.ts): `main` listens with it and skips its own notices. */
  const loadingOrigin = newLoadingOrigin();
  /**
   * A load ended at this member (an initrd answered, or a kernel or initrd refused): the slot given to the address it
   * came from is free. None given here: the slot was another member's, and on a shared store it is told.
   */
  const loadEnded = (x: HttpExchange): void => {
    if (x.method !== 'GET' || x.path === '/boot/host.ipxe') return;
    const o = httpObservation(x)?.observation;
    if (!o || !(o.stage === 'initrd' || (o.stage === 'kernel' && o.outcome === 'failed'))) return;
    if (loadingGate.loaded(x.ip, nowMs()) || !shared) return;
    notifyLoaded(db, loadingOrigin, x.ip).catch((err: unknown) =>
      log.debug({ err: (err as Error).message, ip: x.ip }, 'boot waiting room: loading notice not sent'),
    );
  };
  const timeline = createTimelineService({
    store: createSqlTimelineStore(db),
    config: deps.timeline ?? defaultTimelineConfig,
    lookups: {
      hostByMac: async (mac) => {
        const h = await inventory.findHostByMac(mac);
        return h ? timelineHost(h) : null;
      },
      hostById: (id) =>
        inventory.getHost(id).then(timelineHost, (err: unknown) => {
          if (isNotFound(err)) return null;
          throw err;
        }),
      leaseOwner: async (ip) => {
        const l = await leaseTable.getByIp(ip);
        return l && l.state === 'bound' && l.expiresAt > nowMs() ? parseMac(l.mac) : null;
      },
    },
    recordIn: (tx, e) => appendEvent(tx, e, new Date(nowMs()).toISOString()),
    transaction: (fn) => withTransaction(db, fn).then(() => true),
    // Several controllers share a PostgreSQL store: the others' sessions reach it up to a batch (1 s) late.
    writeLagMs: shared ? 2000 : 0,
    now: deps.now ? nowMs : undefined,
    log: log.child({ domain: 'timeline' }),
    // A slot of the boot waiting room is freed when its load ends (by address, `loadEnded`: the timeline may not know
    // the MAC of an address), and by anything the host is seen doing after loading its kernel: its initrd, a failed
    // kernel, a later or restarted stage (a no-op when `loadEnded` freed it already).
    onObserved: (mac, o) => {
      if (o.stage !== 'ipxe-script' && !(o.stage === 'kernel' && o.outcome === 'ok')) loadingGate.release(mac, nowMs());
    },
  });
  const observers = createBootObservers(timeline);
  const exchange = (x: HttpExchange): void => {
    observers.exchange(x);
    loadEnded(x);
  };
  const heartbeatConfig = deps.heartbeat ?? defaultHeartbeatConfig;
  const heartbeat = createHeartbeatService({
    store: createSqlHealthStore(db),
    config: heartbeatConfig,
    recordIn: (tx, e) => appendEvent(tx, e, new Date(nowMs()).toISOString()),
    transaction: (fn) => withTransaction(db, fn).then(() => true),
    // Several controllers share a PostgreSQL store: the others' heartbeats reach it up to one batch late.
    flushLagMs: shared ? heartbeatConfig.flushSeconds * 1000 : 0,
    host: (id) =>
      inventory.getHost(id).then(
        (h) => ({ id: h.id, name: h.name, state: h.state }),
        (err: unknown) => {
          if (isNotFound(err)) return null;
          throw err;
        },
      ),
    audit: (hostId, facts) => node.reaudit(hostId, facts),
    krl: () => ssh.krl(),
    record: (e) => inventory.recordEvent(e),
    bootHeard: (hostId, session, detail, reboot) =>
      void timeline.observe(
        { hostId },
        { stage: 'heartbeat', outcome: 'ok', detail, reboot, session: session ?? undefined },
      ),
    now: deps.now ? nowMs : undefined,
    log: log.child({ domain: 'heartbeat' }),
  });
  const bootBackend = createBootBackend({
    inventory,
    discovery,
    bootDeployment: (hostId) => deploy.bootDeployment(hostId),
    fillInstallToken: (d) => deploy.fillInstallToken(d),
    log: log.child({ domain: 'boot' }),
  });
  const boot = createBootService({
    backend: bootBackend,
    baseUrl: () => deps.urls().baseUrl,
    ...(deps.memberTrust
      ? {
          baseUrls: () => deps.memberTrust!.memberUrls(),
          knownBaseUrls: () => deps.memberTrust!.knownMemberUrls(),
        }
      : {}),
    nodeImage,
    nodeImageArgs: deps.boot?.nodeImageArgs,
    log: log.child({ domain: 'boot' }),
    timeline: observers.scripts,
    loadingGate,
    firmwareStagesBusy: () => firmwareStagesBusy(),
    now: nowMs,
  });
  // The repo subset's published tree (repo/publish-repo.ts) is public like every boot file: packages and the public key.
  const repoPublic = deps.repo ? repoLayout(deps.repo.dataDir).publicDir : null;
  if (repoPublic) mkdirSync(repoPublic, { recursive: true });
  // On a shared store: every member's repo key in what this member publishes, and `kiln repo sync --from-peer`.
  const repoMembers =
    deps.repo && deps.memberTrust && deps.members?.repo
      ? createRepoMembers({
          dataDir: deps.repo.dataDir,
          profiles: () => repoProfilesOf(profiles.list()),
          peers: deps.members.repo.peers,
          fetch: deps.members.repo.fetch,
          storedKeys: () => deps.memberTrust!.repoKeys(),
          registerOwn: (k) => deps.memberTrust!.putOwnRepoKey(k),
          registerReleases: (record) => deps.memberTrust!.putOwnRepoReleases(record),
          background: deps.members.repo.background ?? false,
          log: log.child({ domain: 'repo' }),
        })
      : null;
  // One check at a time: checks share one private apt directory.
  let repoChecking: Promise<unknown> = Promise.resolve();
  const checkRepoNow = (): Promise<RepoCheck> => {
    const run = repoChecking.then(() =>
      checkRepo({ dataDir: deps.repo!.dataDir, profiles: repoProfilesOf(profiles.list()) }),
    );
    repoChecking = run.catch(() => undefined);
    return run;
  };
  // One memory budget for every boot-file route (kernels, initrds, iPXE binaries, images).
  const cache = createBootFileCache(deps.boot?.cacheBytes ?? DEFAULT_BOOT_CACHE_BYTES);
  const bootFiles: DomainPlugin[] = [
    domain(bootRoutes, { boot }, ''),
    domain(profileFilesRoutes, { profiles, cache }, ''),
    ...(deps.boot?.ipxeDir
      ? [
          domain(
            bootFilesPlugin,
            {
              root: deps.boot.ipxeDir,
              urlPrefix: '/ipxe/',
              cache,
              linkedFiles: deps.boot.ipxeBootFiles ?? Object.values(defaultBootFiles),
            },
            '',
          ),
        ]
      : []),
    ...(deps.boot?.imagesDir
      ? [
          domain(
            bootFilesPlugin,
            {
              root: deps.boot.imagesDir,
              urlPrefix: '/images/',
              cache,
              ...(peerImages ? { beforeSend: (rel: string) => tarballFromPeers(peerImages, images.dir, rel) } : {}),
            },
            '',
          ),
          domain(
            imageObjectRoutes,
            {
              objects: {
                dir: catalog.objects.dir,
                pathOf: (id: string) => catalog.objects.pathOf(id),
                relPathOf: objectRelPath,
                size: (id: string) => catalog.objects.size(id),
              },
              manifests: catalog.manifests,
              ...(peerContent
                ? {
                    fromPeers: {
                      object: (id: string) => peerContent.ensureObject(id),
                      manifest: (id: string) => peerContent.ensureManifest(id),
                    },
                  }
                : {}),
            },
            '',
          ),
        ]
      : []),
    domain(
      nodeImageRoutes,
      { resolve: (arch: string, file: string, version?: string) => nodeImages.resolve(arch, file, version), cache },
      '',
    ),
    ...(repoPublic ? [domain(bootFilesPlugin, { root: repoPublic, urlPrefix: '/repo/', cache }, '')] : []),
  ];
  const hookConfig = deps.hooks ?? defaultHookConfig;
  const hooks = createHookService({
    db,
    seal: deps.seal,
    open: deps.open,
    hostId: async (h) => (await inventory.getHost(h)).id,
    exec: hookConfig.exec,
    timeoutMs: hookConfig.timeoutSeconds * 1000,
    log: log.child({ domain: 'hook' }),
    now: deps.now,
  });
  const metrics =
    deps.metrics ??
    createMetrics({
      hostsByState: () => inventory.countHostsByState(),
      hostStates,
      activeLeases: () => countActiveLeases(db, (deps.now ?? (() => new Date()))().getTime()),
      hookDeliveries: () => hooks.countDeliveries(),
      bootQueue: () => loadingGate.stats(nowMs()),
    });
  // The self-check's registry: `main` fills it with the checks of what it started; other domains add theirs.
  const checks = createCheckRegistry();
  const doctor = createDoctor({
    checks,
    record: (e) => inventory.recordEvent(e),
    observe: (name, status, turned) => metrics.observeCheck(name, status, turned),
    controller: hostname(),
    timeoutMs: (deps.doctor ?? defaultDoctorConfig).timeoutSeconds * 1000,
    log: log.child({ domain: 'doctor' }),
  });
  const hookWorker = createHookWorker({
    db,
    targets: () => hooks.targets(),
    retry: hookConfig.retry,
    concurrency: hookConfig.concurrency,
    history: hookConfig.history,
    now: deps.now,
    count: (outcome) => metrics.countHookDelivery(outcome),
    log: log.child({ domain: 'hook' }),
  });
  const syslogConfig = deps.syslog ?? defaultSyslogConfig;
  // Attribution reads the durable lease table (every controller on a shared store sees every lease, DHCP on or off here).
  // Its own SQLite file and writer, on either inventory database: a flood never queues lease or host writes (ADR 0010).
  const logStore = openLogStore(deps.syslogStoreFile ?? ':memory:');
  const triggers = syslogTriggers(syslogConfig, {
    hostIdByName: async (name) => (await inventory.getHost(name).catch(() => null))?.id ?? null,
    record: (e) => inventory.recordEvent(e),
    onRecordFailed: (err) => log.warn({ err: (err as Error).message }, 'syslog: could not record a trigger event'),
    now: deps.now ? () => deps.now!().getTime() : undefined,
  });
  // With a store file, decoding and writing run in a worker thread (its own connection to the file):
  // the main thread keeps receiving, attribution and the boot servers (docs/syslog.md, "Figures").
  const ingestWorker = deps.syslogStoreFile
    ? startIngestWorker({
        file: deps.syslogStoreFile,
        triggerPatterns: triggers.patterns(),
        log: log.child({ domain: 'syslog' }),
      })
    : null;
  const syslog = createSyslogService({
    store: logStore,
    triggers,
    ...(ingestWorker ? { ingest: ingestWorker.ingest } : {}),
    lookups: {
      leaseOwner: async (ip) => {
        const l = await leaseTable.getByIp(ip);
        return l && l.state === 'bound' && l.expiresAt > (deps.now ?? (() => new Date()))().getTime() ? l.mac : null;
      },
      hostIdByMac: async (text) => {
        const mac = parseMac(text);
        return mac ? ((await inventory.findHostByMac(mac))?.id ?? null) : null;
      },
      hostIdByName: async (name) =>
        inventory.getHost(name).then(
          (h) => (h.name === name ? h.id : null),
          (err: unknown) => {
            if (isNotFound(err)) return null;
            throw err;
          },
        ),
    },
    retention: syslogConfig.retention,
    queueLimit: syslogConfig.limits.queue,
    count: (what) => metrics.countSyslog(what),
    log: log.child({ domain: 'syslog' }),
    now: deps.now,
  });
  // One poller per controller reads what any controller on the store committed, and fans it out to SSE subscribers.
  const eventFeed = createEventFeed({
    read: (q) => listEvents(db, { after: q.after, limit: q.limit, kindPrefix: q.kindPrefix, hostId: q.hostId }),
    latest: async () => (await listEvents(db, { order: 'desc', limit: 1 }))[0]?.seq ?? 0,
    intervalMs: deps.eventStream?.pollMs,
    maxQueued: deps.eventStream?.maxQueued,
    onError: (err) => log.warn({ err: (err as Error).message }, 'event stream: reading new events failed; retrying'),
  });
  // One login limiter for the API's /login and the web UI's login form: failures count together per source; on
  // PostgreSQL in the store, so the limit holds in total across the members.
  const loginLimiter = createLoginLimiter(
    shared
      ? {
          shared: storeFailureCounter({
            db,
            limiter: 'login',
            limit: defaultLoginLimit.maxFailures,
            now: deps.now ? () => deps.now!().getTime() : undefined,
            log: log.child({ domain: 'ratelimit' }),
          }),
        }
      : {},
  );
  const observeHttp = (method: string, route: string, status: number, seconds: number) =>
    metrics.observeHttp(method, route, status, seconds);
  const countInFlight = (delta: 1 | -1) => {
    httpInFlight += delta;
  };
  const app = await buildApp({
    logger: deps.httpLogger ?? false,
    logRequests: deps.logRequests,
    bodyLimit: deps.bodyLimit,
    onResponse: observeHttp,
    inFlight: countInFlight,
    onExchange: exchange,
    // The boot scripts ahead of Fastify (same boot service, metrics, timeline and answers): issue 17's fetch rate.
    fastPath: createBootFastPath({
      boot,
      onResponse: observeHttp,
      onExchange: exchange,
      inFlight: countInFlight,
      log: deps.httpLogger || undefined,
    }),
    auth: {
      token: (t) => tokens.authenticate(t),
      node: (t, req) => node.authenticate(t, nodeSource(req)),
      ...(deps.members
        ? {
            member: (h: string | undefined, req: { method: string; url: string }) =>
              deps.members!.verify(h, req.method, req.url),
          }
        : {}),
    },
    plugins: [
      domain(hostRoutes, { inventory, revokeCertificates, healthOf: (id: string) => heartbeat.statusOf(id) }),
      domain(labelRoutes, { inventory }),
      domain(eventRoutes, { listEvents: (q: Parameters<typeof inventory.listEvents>[0]) => inventory.listEvents(q) }),
      // Reads the durable lease table directly: every controller on a shared store sees every lease, DHCP on or off here.
      domain(leaseRoutes, { listLeases: (subnet?: string) => leaseTable.list(subnet), now: deps.now }),
      domain(tokenRoutes, { tokens, now: deps.now }),
      domain(userRoutes, { users, limiter: loginLimiter }),
      domain(nodeRoutes, {
        node,
        deployments: deploy,
        secrets,
        secretsNeedTls: deps.secretsNeedTls ?? true,
        installTokens,
        // The boot NIC first: the session is kept under the MAC that fetched the boot script.
        currentSession: async (hostId: string) => {
          const h = await inventory.getHost(hostId);
          const macs = [...h.nics].sort((a, b) => Number(b.boot) - Number(a.boot)).map((n) => n.mac);
          return macs.map((m) => timeline.currentSession(m)).find((id) => id !== null) ?? null;
        },
        installPlan: async (spec: Record<string, unknown>, hostId: string, files: Record<string, string>) => {
          const image = await imageNamed(String(spec['name']));
          // A record taken from a peer: the squashfs root is built from the tarball, fetched first.
          if (spec['stateless'] === true && image && peerImages) await peerImages.ensureTarball(image);
          // A stateless image's squashfs root is built on its first plan request (cached after; docs/stateless.md).
          const squashfs = spec['stateless'] === true && image ? await squashfsRoots.ensure(image) : undefined;
          return buildInstallPlan(spec, image, await inventory.getHost(hostId), deps.urls(), files, squashfs);
        },
      }),
      domain(imageRoutes, { images, imageNamed }),
      domain(verifyRoutes, {
        getHost: (idOrName: string) => inventory.getHost(idOrName),
        recordEvent: (e: Parameters<typeof inventory.recordEvent>[0]) => inventory.recordEvent(e),
        manifest: (id: string) => catalog.manifests.get(id),
      }),
      domain(nodeAdminRoutes, { node, inventory }),
      domain(secretsRoutes, { secrets, inventory }),
      domain(sshRoutes, {
        ssh,
        inventory,
        addresses: async (id: string) => {
          const ip = await node.lastIp(id);
          return [...(ip ? [ip] : []), ...(await deploy.plannedAddresses(id))];
        },
      }),
      domain(profileRoutes, { profiles }),
      domain(ruleRoutes, { rules }),
      domain(deployRoutes, { deploy, inventory, lastIp: (id: string) => node.lastIp(id), abRollback }),
      domain(eventStreamRoutes, { feed: eventFeed, heartbeatMs: deps.eventStream?.heartbeatMs }),
      // The web UI (src/ui): pages at / and /ui/, reading and acting through the routes above under the user's session.
      domain(
        eventStreamRoutes,
        { feed: eventFeed, heartbeatMs: deps.eventStream?.heartbeatMs, session: true, named: false },
        '/ui',
      ),
      domain(
        uiRoutes,
        {
          login: (input: { name: string; password: string }, source: string) => users.login(input, source),
          limiter: loginLimiter,
          countHostsByState: () => inventory.countHostsByState(),
          unreachableHosts: (limit: number) => heartbeat.unreachable(limit),
          states: hostStates,
          now: deps.now,
        },
        '',
      ),
      // Closing the app stops the render workers, and ends the event streams first so the server can close.
      domain(async (a) => {
        a.addHook('preClose', async () => eventFeed.close());
        a.addHook('onClose', async () => {
          loopDelay.close();
          await renderer.close();
        });
      }),
      domain(powerRoutes, { power }),
      domain(syslogRoutes, {
        hostId: async (h: string) => (await inventory.getHost(h)).id,
        list: (q: Parameters<typeof syslog.list>[0]) => syslog.list(q),
        arrived: (hostId: string, key: string) => syslog.arrived(hostId, key),
      }),
      // Closing the app writes the syslog messages still queued (the receiver is closed first, by `main`).
      domain(async (a) => {
        a.addHook('onClose', async () => {
          await syslog.close();
          await ingestWorker?.close();
          await logStore.close();
        });
      }),
      domain(timelineRoutes, {
        host: async (h: string) => timelineHost(await inventory.getHost(h)),
        sessions: (h: TimelineHost) => timeline.sessions(h),
        timeline: (h: TimelineHost, session?: string) => timeline.timeline(h, session),
      }),
      // Closing the app writes the timeline observations and boot events still waiting.
      domain(async (a) => {
        a.addHook('onClose', async () => {
          await timeline.close();
          await bootBackend.flushEvents();
        });
      }),
      domain(hookRoutes, { hooks }),
      domain(heartbeatRoutes, {
        heartbeat,
        host: async (h: string) => inventory.getHost(h),
        agentFile: readAgentFile,
        abReported: (h: { id: string; name: string }, ab: AbReport) => abRollback.reported(h.id, h.name, ab),
        // Every healthy member: the installed heartbeat agent refreshes its failover lists from each reply.
        ...(deps.memberTrust
          ? {
              members: () => ({
                urls: deps.memberTrust!.memberUrls(),
                apiUrls: deps.memberTrust!.memberApiUrls(),
              }),
              caBundle: () => deps.memberTrust!.tlsCaBundle(),
            }
          : {}),
      }),
      // Closing the app writes the health not yet flushed.
      domain(async (a) => {
        a.addHook('onClose', () => heartbeat.close());
      }),
      ...(deps.repo
        ? [
            domain(repoRoutes, {
              check: checkRepoNow,
              ...(repoMembers ? { syncFromPeer: (peer?: string) => repoMembers.syncFromPeer(peer) } : {}),
            }),
          ]
        : []),
      domain(doctorRoutes, { run: () => doctor.run() }),
      domain(clusterRoutes, {
        list: () =>
          listControllers(db, {
            now: deps.now?.() ?? new Date(),
            staleMs: (deps.cluster ?? defaultClusterConfig).staleSeconds * 1000,
            ...(deps.members?.loads ? { loadMaxAgeMs: deps.members.loads.maxAgeMs } : {}),
          }),
      }),
      ...(deps.memberTrust ? [domain(joinRoutes, { trust: deps.memberTrust })] : []),
      // What this member holds, for a peer that lacks it (local files only: never fetched on a peer's behalf).
      domain(contentRoutes, {
        pathOf: (kind: HashedContentKind, id: string) =>
          kind === 'objects'
            ? catalog.objects.pathOf(id)
            : kind === 'manifests'
              ? catalog.manifests.pathOf(id)
              : kind === 'tarballs'
                ? tarballPathOf(images, id)
                : nodeImages.pathOf(id),
        recordOf: (name: string) => {
          const own = images.get(name);
          return own && own.fetchedFrom === undefined ? join(images.dir, `${name}.json`) : null;
        },
        // The published subset's files (the route admits only paths under dists/ and pool/ of REPO_TREE_PATH).
        repoPathOf: (path: string) => (deps.repo ? join(repoLayout(deps.repo.dataDir).archiveDir, path) : null),
      }),
      domain(selfTestRoutes, {
        selfTests,
        // `kiln host test` on a host that is off with a BMC: power it on into discovery to run the tests.
        wake: async (hostId: string, reason: string) => {
          const host = await inventory.getHost(hostId);
          if (!host.bmc) return false;
          const origin = { actor: selfTestActor, reason };
          try {
            if ((await power.status(host.id, origin)).state !== 'off') return false;
            await power.request(host, 'netboot', reason, selfTestActor);
            return true;
          } catch (err) {
            log.warn({ host: host.name, err: (err as Error).message }, 'power-on for a self-test failed');
            return false;
          }
        },
      }),
      domain(metricsRoutes, { registry: metrics.registry }, ''),
      ...bootFiles,
      ...(deps.extraPlugins ?? []),
    ],
  });
  return {
    app,
    db,
    images,
    inventory,
    tokens,
    users,
    boot,
    bootBackend,
    discovery,
    node,
    secrets,
    ssh,
    profiles,
    deploy,
    power,
    metrics,
    renderer,
    installTokens,
    syslog,
    timeline,
    heartbeat,
    bootObserver: observers.servers,
    hooks,
    hookWorker,
    eventFeed,
    checks,
    doctor,
    selfTests,
    nodeImages,
    /** The boot waiting room, and this member's name on `kiln_loading`: `main` listens for the other members' loads. */
    loadingGate,
    loadingOrigin,
    /** The repo subset between members (null without a shared store's member trust): `main` refreshes it. */
    repoMembers,
    /** What this member publishes of its data plane with its heartbeat (JSON); undefined without `members.loads`. */
    memberLoad,
  };
}

/** The controller's type, for tests and `main`. */
export type Controller = Awaited<ReturnType<typeof createController>>;

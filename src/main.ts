// The composition root of `kiln serve`: config → store → services → servers,
// all under one AbortController; the first fatal error stops everything.
import { hkdfSync, randomUUID } from 'node:crypto';
import { createServer as createHttpsServer } from 'node:https';
import { isIP } from 'node:net';
import { hostname, networkInterfaces } from 'node:os';
import { existsSync, readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { repoSelfCheck } from './repo/check-repo.js';
import { repoProfilesOf } from './repo/repo-profile.js';
import pino from 'pino';
import { splitHostPort, type KilnConfig } from './config/parse-config.js';
import { ensureWritableDirectory, listenFailure } from './startup/start-up-failure.js';
import { startNetworkServers, type NetworkServers } from './boot/network-servers.js';
import type { DhcpConfig } from './boot/dhcp/dhcp-config.js';
import { serverIdsOf } from './boot/dhcp/member-takeover.js';
import { localIpv4Addresses, resolveSubnetInterfaces, type LocalAddress } from './boot/dhcp/dhcp-listeners.js';
import { splitList } from './boot/discovery-policy.js';
import type { NodeImage } from './boot/http/host-script.js';
import { createController } from './controller.js';
import { buildDiscoveryImage } from './discovery/build-discovery-image.js';
import { COPY_GC_INTERVAL_MS, NODE_IMAGE_FILES, NODE_IMAGE_VERSION } from './discovery/node-image-source.js';
import { KilnError } from './error/kiln-error.js';
import type { Logger } from './log/logger.js';
import { openDatabase } from './store/database.js';
import { openSecret, sealSecret } from './trust/credential/secret-box.js';
import { loadTrust } from './trust/load-trust.js';
import { startSyslog } from './syslog/start-syslog.js';
import { sql, type Kysely } from 'kysely';
import type { Database } from './schema.js';
import { addControllerChecks } from './doctor/controller-checks.js';
import type { NodeImageState } from './doctor/checks/boot-files.js';
import { probeHost } from './doctor/checks/probes.js';
import { raInterfaces } from './boot/ra/ra-config.js';
import { listEvents } from './event/event-log.js';
import { migrateToLatest, pendingMigrations } from './store/migrate.js';
import { createElector, type RoleContext } from './cluster/elector.js';
import { startMemberHeartbeat } from './cluster/member-heartbeat.js';
import { createMemberTrust } from './cluster/member-trust.js';
import { memberKeyOf, signMemberRequest, verifyMemberRequest } from './cluster/member-credential.js';
import { createPeerFetcher } from './cluster/peer-fetch.js';
import { listPeerEndpoints, listPeerLoads } from './cluster/sql-cluster-store.js';
import { localRoleLocks, postgresRoleLocks } from './cluster/role-locks.js';
import { listenForEvents } from './event/event-notify.js';
import { listenForHostChanges } from './inventory/host-change-notify.js';
import { listenForLoads } from './boot/http/loading-notify.js';
import { listenForAuthChanges } from './auth/auth-change-notify.js';
import { EVENTS_CHANNEL } from './event/sql-event-store.js';
import { packagePath } from './runtime/package-path.js';
import { parseReleasesRecord } from './repo/peer-sync-decision.js';
import { sleepUnlessAborted } from './runtime/sleep.js';
import { ensureTangKeys, TANGD, TANGD_KEYGEN } from './tang/tang-keys.js';
import { startTang, type TangState } from './tang/tang-server.js';

/** Accept backlog of the HTTP and HTTPS listeners (see the listen call). */
const HTTP_BACKLOG = 4096;

/**
 * A running controller: `address` is the URL it listens on; `stop()` closes
 * servers and the store. `failed` resolves (never rejects) when a server dies
 * for good (a socket that cannot be re-opened): the controller has then
 * already stopped itself, and the caller exits non-zero with that message.
 */
export interface RunningController {
  address: string;
  adminToken: string | null;
  stop: () => Promise<void>;
  failed: Promise<KilnError>;
}

/**
 * Names for the API certificate: this machine's host name, localhost, every
 * local address, and `publicHost` (the host of the URL nodes call, which
 * verify it against Kiln's CA). IPv4 addresses come from iproute2
 * (`localIpv4Addresses`), which lists an interface without carrier too;
 * networkInterfaces() does not, so it gives only the IPv6 ones; and
 * `publicHost` is added in any case.
 */
export function serverNames(
  listen: string,
  publicHost?: string,
  ipv4: () => readonly LocalAddress[] = localIpv4Addresses,
): { dnsNames: string[]; ipAddresses: string[] } {
  const ipv6 = Object.values(networkInterfaces()).flatMap((l) =>
    (l ?? []).filter((a) => a.family === 'IPv6').map((a) => a.address.split('%')[0]),
  );
  const ips = [...ipv4().map((a) => a.address), ...ipv6];
  const bound = splitHostPort(listen).host;
  const pub = publicHost?.replace(/^\[|\]$/g, '');
  const pubIp = pub !== undefined && isIP(pub) !== 0;
  return {
    dnsNames: [...new Set([hostname(), 'localhost', ...(pub && !pubIp ? [pub] : [])])],
    ipAddresses: [
      ...new Set([
        ...ips,
        ...(bound && bound !== '0.0.0.0' && bound !== '::' ? [bound] : []),
        ...(pub && pubIp ? [pub] : []),
      ]),
    ],
  };
}

/** A built node image in a directory (`boot.node-image` set to one): its `version` file, `vmlinuz` and `initrd.img`. */
async function nodeImageFromDir(dir: string): Promise<{ kernelPath: string; version: string; cached: boolean }> {
  const version = readFileSync(join(dir, 'version'), 'utf8').trim();
  if (!NODE_IMAGE_VERSION.test(version))
    throw new KilnError('config_invalid', `node-image ${dir}: its version file does not hold a version`);
  for (const f of NODE_IMAGE_FILES)
    if (!existsSync(join(dir, f))) throw new KilnError('config_invalid', `node-image ${dir}: no ${f} in it`);
  return { kernelPath: join(dir, 'vmlinuz'), version, cached: true };
}

/** Kiln's node image, built (or found in the cache, or taken from a directory) in the background; null until ready. */
function startNodeImage(
  cacheDir: string,
  mode: KilnConfig['boot']['node-image'],
  log: Logger,
  signal: AbortSignal,
): {
  get: () => (NodeImage & { dir: string; version: string }) | null;
  settled: Promise<void>;
  state: () => NodeImageState;
} {
  let image: (NodeImage & { dir: string; version: string }) | null = null;
  if (mode === 'off') return { get: () => null, settled: Promise.resolve(), state: () => ({ kind: 'off' }) };
  let failure: string | null = null;
  // The build's children (apt-get, dpkg-deb, …) are killed when `signal` aborts (shutdown); `settled` waits for that.
  const built =
    mode === 'auto'
      ? buildDiscoveryImage({ cacheDir, log: log.child({ domain: 'discovery' }), signal })
      : nodeImageFromDir(mode);
  const settled = built
    .then((img) => {
      image = { dir: dirname(img.kernelPath), arch: 'x86_64', version: img.version };
      log.info({ version: img.version, cached: img.cached }, 'node image ready');
    })
    .catch((err) => {
      failure = (err as Error).message;
      if (signal.aborted) log.info({}, 'node image build cancelled by shutdown');
      else
        log.warn(
          { err: (err as Error).message },
          'node image could not be built; discovery boots will wait (run `kiln image build-discovery` to see why)',
        );
    });
  const state = (): NodeImageState =>
    image
      ? { kind: 'ready', dir: image.dir }
      : failure !== null
        ? { kind: 'failed', error: failure }
        : { kind: 'building' };
  return { get: () => image, settled, state };
}

/**
 * Kiln's Tang server (`tang-listen`): its keys made once under
 * `<data-dir>/tang` (0700), then one tangd per connection. Without the
 * setting, or without Debian's tang package (a warning), the state says why
 * and LUKS plans are refused with that reason.
 */
async function startTangServer(
  listen: string,
  dataDir: string,
  baseUrl: string,
  log: Logger,
): Promise<{ state: TangState; close: () => Promise<void> }> {
  const none = async (): Promise<void> => {};
  if (!listen)
    return {
      state: { kind: 'off', why: "Kiln's Tang server is off: set tang-listen (--tang-listen or KILN_TANG_LISTEN)" },
      close: none,
    };
  const missing = [TANGD, TANGD_KEYGEN].filter((p) => !existsSync(p));
  if (missing.length > 0) {
    const why = `tang-listen is set but Debian's tang package is not installed (${missing.join(', ')} missing): install it (scripts/install-debian-packages.sh) and restart kiln serve`;
    log.warn({ missing }, why);
    return { state: { kind: 'off', why }, close: none };
  }
  const keysDir = join(dataDir, 'tang');
  ensureWritableDirectory('data-dir', keysDir);
  const thumbprint = await ensureTangKeys(keysDir);
  const { host, port } = splitHostPort(listen);
  const tang = await startTang({ host, port, keysDir, log: log.child({ domain: 'tang' }) }).catch((err: unknown) => {
    throw listenFailure('tang-listen', listen, err);
  });
  const url = `http://${new URL(baseUrl).hostname}:${tang.port}`;
  log.info({ url, thumbprint }, "Kiln's Tang server is ready for LUKS volumes (Clevis pins this thumbprint)");
  return { state: { kind: 'ready', url, thumbprint }, close: tang.close };
}

/**
 * The DHCP slice with each attached subnet's interface found from this
 * machine's addresses: a subnet neither attached nor relayed is a config
 * error here, before anything is created.
 */
function resolveDhcp(dhcp: DhcpConfig, local: readonly LocalAddress[]): DhcpConfig {
  return dhcp.enabled ? { ...dhcp, subnets: resolveSubnetInterfaces(dhcp.subnets, local, dhcp.serverAddress) } : dhcp;
}

/** Starts the controller with a validated config. Throws KilnError (store_unavailable, config_invalid) on start-up failure. */
export async function runServe(
  config: KilnConfig,
  opts: { print?: (line: string) => void } = {},
): Promise<RunningController> {
  const { server, urls } = config;
  const dataDir = server['data-dir'];
  // The last config check that needs this machine (its addresses); read once, for DHCP's sockets too.
  const local = config.dhcp.enabled ? localIpv4Addresses() : [];
  const dhcp = resolveDhcp(config.dhcp, local);
  const pinoLog = pino({
    level: server['log-level'],
    base: { service: 'kiln' },
    redact: { paths: ['req.headers.authorization', '*.password', 'password'], censor: '[redacted]' },
  });
  const log = pinoLog as unknown as Logger;
  const abort = new AbortController();
  // Every directory Kiln writes is created here, before anything uses it (0700: the data dir holds keys and tokens).
  ensureWritableDirectory('data-dir', dataDir);
  for (const sub of ['images', 'cache']) ensureWritableDirectory('data-dir', join(dataDir, sub));
  const store = await openDatabase({ dataDir, databaseUrl: server['database-url'], log });
  const closers: Array<() => Promise<void>> = [() => store.close()];
  let stopping: Promise<void> | undefined;
  const stop = () =>
    (stopping ??= (async () => {
      abort.abort();
      for (const c of closers.reverse())
        await c().catch((err) => log.warn({ err: (err as Error).message }, 'error while stopping'));
    })());
  // One fatal channel for every server (pixiecore's Serve): the first server that dies for good stops the controller.
  let reportFailure: (err: KilnError) => void = () => {};
  const failed = new Promise<KilnError>((resolve) => {
    reportFailure = resolve;
  });
  const fatal = (err: KilnError) => {
    if (abort.signal.aborted) return;
    log.error({ code: err.code, err: err.message }, 'a server failed for good; stopping the controller');
    void stop().then(() => reportFailure(err));
  };
  try {
    const applied = await migrateToLatest(store.db);
    log.info({ store: store.describe, applied }, 'store ready');
    const certFile = server['tls-cert-file'];
    const keyFile = server['tls-key-file'];
    const ipxeDir = config.boot['ipxe-dir'];
    const ipxeFound = existsSync(ipxeDir);
    if (!ipxeFound)
      log.warn(
        { ipxeDir },
        `ipxe-dir ${ipxeDir} does not exist: firmware cannot fetch iPXE from /ipxe/ or TFTP; install Debian's ipxe package (scripts/install-debian-packages.sh) or set --ipxe-dir (KILN_IPXE_DIR)`,
      );
    const { baseUrl, apiUrl } = urls;
    // The API URL nodes verify (apiUrl) has baseUrl's host: it must be in the certificate.
    const trust = await loadTrust({
      dataDir,
      server:
        certFile && keyFile
          ? { kind: 'files', certFile, keyFile }
          : { kind: 'issue', ...serverNames(server.listen, new URL(baseUrl).hostname) },
      logger: log,
    });
    // This member's CAs beside the other members' (docs/cluster.md, "Joining"): a data key that is not the store's
    // stops the start here, before anything is sealed with it.
    const memberName = config.cluster.name || `${hostname()}:${urls.http.port}`;
    // Installers log to the address they fetch their files from.
    const syslogUrl = config.syslog.enabled
      ? { syslog: { host: new URL(baseUrl).hostname, port: config.syslog.port } }
      : {};
    const urlsView = {
      baseUrl,
      apiUrl,
      // Every member's TLS CA: a node verifies whichever member it reaches (this one's CA first).
      get caPem(): string {
        return memberTrust.tlsCaBundle();
      },
      // Every healthy member, this one first: the image writer and the installed heartbeat agent fail over.
      get baseUrls(): readonly string[] {
        return memberTrust.memberUrls();
      },
      get apiUrls(): readonly string[] {
        return memberTrust.memberApiUrls();
      },
      ...syslogUrl,
    };
    const memberTrust = createMemberTrust({
      db: store.db,
      own: { sshCa: trust.sshCa, tlsCa: trust.tlsCa, name: memberName, url: baseUrl, apiUrl },
      dataKey: trust.dataKey,
      staleMs: config.cluster.staleSeconds * 1000,
      log: log.child({ domain: 'cluster' }),
    });
    await memberTrust.start();
    // Members that join or stop reach known_hosts, the KRL, the CA bundle and the failover URLs within one heartbeat.
    const refreshingMembers = (async () => {
      while (!abort.signal.aborted) {
        await sleepUnlessAborted(config.cluster.heartbeatSeconds * 1000, abort.signal);
        if (!abort.signal.aborted)
          await memberTrust
            .refresh()
            .catch((err: unknown) => log.warn({ err: (err as Error).message }, 'cluster: reading the members failed'));
      }
    })();
    closers.push(() => refreshingMembers);
    // Content this member lacks comes from its peers (docs/cluster.md, "Content between members"), over their
    // HTTPS API verified against each one's own TLS CA, signed with the member credential (docs/security.md).
    const memberId = randomUUID();
    const memberKey = memberKeyOf(trust.dataKey);
    const peerFetcher = createPeerFetcher({
      peers: () =>
        listPeerEndpoints(store.db, {
          self: memberId,
          since: new Date(Date.now() - config.cluster.staleSeconds * 1000).toISOString(),
        }),
      sign: (method, path) => signMemberRequest(memberKey, { member: memberId, method, path, nowMs: Date.now() }),
      concurrency: config.cluster.peerFetchConcurrency,
      maxBytes: config.cluster.peerFetchMaxMiB * 1024 * 1024,
      log: log.child({ domain: 'cluster' }),
    });
    closers.push(async () => peerFetcher.close());
    const tang = await startTangServer(server['tang-listen'], dataDir, baseUrl, log);
    closers.push(tang.close);
    const build = startNodeImage(join(dataDir, 'cache'), config.boot['node-image'], log, abort.signal);
    closers.push(() => build.settled);
    const nodeImage = build.get;
    let network: NetworkServers | null = null;
    const controller = await createController({
      discovery: {
        settings: {
          mode: config.discovery.discovery,
          allow: splitList(config.discovery['discovery-allow']),
          perSubnetPerMinute: config.discovery['discovery-limit'],
          bootSourceRanges: splitList(config.discovery['boot-source-ranges']),
        },
        // The subnets Kiln's DHCP serves, for the discovery policy's source check.
        subnets: dhcp.enabled ? dhcp.subnets.map((s) => ({ cidr: s.cidr, mode: s.mode })) : [],
      },
      db: store.db,
      log,
      httpLogger: pinoLog,
      logRequests: server['log-requests'],
      bodyLimit: server['body-limit'],
      nodeRateLimit: server['node-rate-limit'],
      sshCa: trust.sshCa,
      memberTrust,
      members: {
        fetch: (kind, id, sink) => peerFetcher.fetch(kind, id, sink),
        verify: (header, method, path) => verifyMemberRequest(memberKey, header, { method, path, nowMs: Date.now() }),
        repo: {
          peers: async () =>
            (
              await listPeerEndpoints(store.db, {
                self: memberId,
                since: new Date(Date.now() - config.cluster.staleSeconds * 1000).toISOString(),
              })
            ).map((p) => ({
              id: p.id,
              name: p.name,
              repoKey: p.repoPublicKey ? new Uint8Array(Buffer.from(p.repoPublicKey, 'base64')) : null,
              releases: parseReleasesRecord(p.repoReleases),
            })),
          fetch: (path, sink, from) => peerFetcher.fetch('repo', path, sink, from),
          background: config.cluster.repoSync,
        },
        // Several members on one PostgreSQL store: batches here are paced by every member's data plane.
        ...(server['database-url']
          ? {
              loads: {
                read: () =>
                  listPeerLoads(store.db, {
                    self: memberId,
                    since: new Date(Date.now() - config.cluster.staleSeconds * 1000).toISOString(),
                  }),
                maxAgeMs: Math.max(5_000, 3 * config.cluster.heartbeatSeconds * 1000),
              },
            }
          : {}),
      },
      profilesDir: server['profiles-dir'],
      site: config.site,
      tang: () => tang.state,
      machineSubnets: dhcp.subnets.map((s) => ({ cidr: s.cidr, router: s.router, dns: s.dns, ntp: s.ntp })),
      // Called on every per-host script fetch (for the base URL): one object, the CA bundle built only when read.
      urls: () => urlsView,
      installTokenKey: new Uint8Array(hkdfSync('sha256', trust.dataKey, '', 'kiln install token', 32)),
      seal: (clear, context) => sealSecret(trust.dataKey, clear, context),
      open: (sealed, context) => openSecret(trust.dataKey, sealed, context),
      leaseOwner: (ip) => (network ? network.leaseOwner(ip) : Promise.resolve(null)),
      syslog: config.syslog,
      timeline: config.timeline,
      heartbeat: config.heartbeat,
      doctor: config.doctor,
      cluster: config.cluster,
      syslogStoreFile: join(dataDir, 'syslog.sqlite'),
      hooks: config.hooks,
      repo: { dataDir },
      templates: {
        timeoutMs: config.templates['template-timeout-ms'],
        maxOutputKib: config.templates['template-max-output-kib'],
      },
      powerConfig: {
        timeoutMs: config.power['power-timeout'] * 1000,
        maxConcurrent: config.power['power-max-concurrent'],
        launchGraceMs: config.power['power-launch-grace'] * 1000,
        libvirtTestDriver: config.power['power-libvirt-test-driver'],
      },
      boot: {
        ...(ipxeFound ? { ipxeDir } : {}),
        // The boot file names DHCP hands out: the only names /ipxe/ and TFTP serve through a symlink (served-path.ts).
        ipxeBootFiles: Object.values(dhcp.bootFiles),
        imagesDir: join(dataDir, 'images'),
        nodeImageArgs: config.boot['node-image-args'],
        nodeImage,
        nodeImageCopiesDir: join(dataDir, 'cache', 'node-image-peers'),
        // Builds are x86_64 (startNodeImage) and each lands whole in its version's directory (build-discovery-image.ts).
        nodeImageBuiltDir: (version: string, arch: string) =>
          arch === 'x86_64' ? join(dataDir, 'cache', 'discovery', version) : null,
        cacheBytes: config.boot['http-cache-mib'] * 1024 * 1024,
        // -1: 256 on SQLite; off on PostgreSQL: with members the room works since its slots are freed by address and
        // across members, but it is not yet shown no slower than off (docs/booting.md, "Not yet the default").
        loadingGate: {
          maxLoading: config.boot['max-loading'] >= 0 ? config.boot['max-loading'] : server['database-url'] ? 0 : 256,
        },
      },
    });
    closers.push(() => controller.app.close());
    // This member's node image files, once ready, recorded in the store for members that lack them (ADR 0016); the
    // version recorded last read now, for a member that has none of its own yet.
    const recording = build.settled
      .then(async () => {
        const own = nodeImage();
        if (own && !abort.signal.aborted) await controller.nodeImages.recordOwn(own, memberName);
      })
      .catch((err: unknown) =>
        log.warn({ err: (err as Error).message }, 'node image: recording its files in the store failed'),
      );
    closers.push(() => recording);
    await controller.nodeImages.refresh();
    // This member's repo key in the store, and every member's key in what it publishes (docs/repo.md, "Members"):
    // at start, then every heartbeat, as the members' CAs are.
    const refreshingRepo = (async () => {
      while (!abort.signal.aborted) {
        await controller.repoMembers
          ?.refresh()
          .catch((err: unknown) =>
            log.warn({ err: (err as Error).message }, "repo: refreshing the members' keys failed"),
          );
        await sleepUnlessAborted(config.cluster.heartbeatSeconds * 1000, abort.signal);
      }
    })();
    closers.push(() => refreshingRepo);
    // Copies of node image versions this member no longer serves go after their grace period (docs/adr/0016).
    const collectingCopies = (async () => {
      while (!abort.signal.aborted) {
        await sleepUnlessAborted(COPY_GC_INTERVAL_MS, abort.signal);
        if (!abort.signal.aborted)
          await controller.nodeImages
            .gcCopies()
            .catch((err: unknown) =>
              log.warn({ err: (err as Error).message }, 'node image: removing old copies failed'),
            );
      }
    })();
    closers.push(() => collectingCopies);
    // The repo self-check (issue 18): whether each profile's packages install from the subset; logged, never fatal,
    // and the doctor's `repo-subset` check: its start-up result (apt's simulation is too slow to repeat every few
    // minutes), a warning and not a failure, as the repo check itself is never fatal (a repo not synced yet).
    let repoResult: { ok: boolean; detail: string; fix: string } | null = null;
    controller.checks.add({
      name: 'repo-subset',
      run: async () =>
        repoResult === null
          ? {
              status: 'warn',
              detail: 'the start-up repo subset check is still running',
              fix: 'wait for it (kiln serve log)',
            }
          : repoResult.ok
            ? { status: 'ok', detail: `at start: ${repoResult.detail}` }
            : {
                status: 'fail',
                detail: `at start: ${repoResult.detail}`,
                fix: `${repoResult.fix}, then restart kiln serve`,
              },
    });
    const repoChecked = repoSelfCheck({
      dataDir,
      profiles: repoProfilesOf(controller.profiles.list()),
      // Its own apt directory: an API check may run at the same time.
      workDir: join(dataDir, 'repo', 'check-start'),
    }).then(
      (r) => {
        repoResult = r;
        if (r.ok) log.info({ detail: r.detail }, 'repo subset check');
        else log.warn({ detail: r.detail, fix: r.fix }, 'repo subset check failed');
      },
      (err: unknown) => {
        repoResult = { ok: false, detail: `could not run: ${(err as Error).message}`, fix: 'see the kiln serve log' };
        log.warn({ err: (err as Error).message }, 'repo subset check could not run');
      },
    );
    closers.push(() => repoChecked);
    // Current boot sessions come back from the store. Stall checks and pruning are the `boot-stalls` and
    // `log-pruning` roles' (below): one controller of the store judges stalls from the store, one prunes.
    await controller.timeline.start({ prune: false, check: false });
    // Last-seen and health come back from the store; silent hosts are the `silent-hosts` role's (below).
    await controller.heartbeat.start({ check: false });
    // BMC passwords sealed before they were bound to their host (context `bmc`) are re-sealed once, here.
    await controller.inventory.rebindBmcSeals((sealed) => openSecret(trust.dataKey, sealed, 'bmc'));
    // Hosts written before migration 0340 (or by an older controller) get their list document, once, in the
    // background: until then a list renders those hosts per request (docs/inventory.md).
    const rendering = controller.inventory
      .renderStaleDocs(abort.signal)
      .then(() => undefined)
      .catch((err) => log.error({ err: (err as Error).message }, 'host list documents not rendered'));
    closers.push(() => rendering);
    // Singleton work runs on one controller of the store at a time (src/cluster, docs/adr/0013): on PostgreSQL the
    // holder of each role's advisory lock, on SQLite this process. Each role's work stops when the role is lost.
    const databaseUrl = server['database-url'];
    const pollSeconds = config.power['power-poll-interval'];
    const elector = createElector({
      db: store.db,
      locks: databaseUrl
        ? postgresRoleLocks(databaseUrl, (err) =>
            log.warn({ err: err.message }, 'cluster: the role lock connection failed; every role is given up'),
          )
        : localRoleLocks(),
      member: {
        id: memberId,
        name: memberName,
        url: baseUrl,
        apiUrl,
        // Peers verify this member's HTTPS against its own TLS CA: only a certificate Kiln issued from it passes (an
        // operator's tls-cert-file does not, so such a member is not a content source, though machines still fail over to it).
        memberCa: urls.https && !(certFile && keyFile) ? trust.sshCa.fingerprint : null,
        // A live member answers the REQUESTs that name these once this member is dead (docs/cluster.md).
        dhcpServerIds: serverIdsOf(dhcp),
        version: (JSON.parse(readFileSync(packagePath('package.json'), 'utf8')) as { version: string }).version,
      },
      pollMs: config.cluster.electionMs,
      log: log.child({ domain: 'cluster' }),
      work: {
        // Closed before the app (the closers run in reverse) so no poll round outlives the drivers.
        ...(pollSeconds > 0
          ? {
              'power-poll': (ctx: RoleContext) =>
                controller.power.runPoller({
                  intervalMs: pollSeconds * 1000,
                  signal: ctx.signal,
                  fence: ctx.fence,
                  write: ctx.write,
                }),
            }
          : {}),
        // Waits for deliveries in flight (each bounded by its timeout) when the role is lost or the controller stops.
        // A new holder first ends the claims of the one before, so its deliveries in flight are sent again now.
        ...(config.hooks.enabled
          ? {
              'hook-delivery': async (ctx: RoleContext) => {
                const released = await controller.hookWorker.releaseClaims(ctx.write);
                if (released > 0)
                  log.info({ released }, 'hook deliveries in flight on the previous holder are due again');
                await controller.hookWorker.run({
                  intervalMs: config.hooks.pollMs,
                  signal: ctx.signal,
                  fence: ctx.fence,
                  write: ctx.write,
                });
              },
            }
          : {}),
        // Judged from the store (what every controller heard and observed), each fact written with its event in
        // one transaction fenced by the term: one event per fact, whichever controller saw it.
        'silent-hosts': async (ctx: RoleContext) => {
          const write = async (fn: (tx: Kysely<Database>) => Promise<void>) => (await ctx.write(fn)).ok;
          while (!ctx.signal.aborted) {
            await controller.heartbeat.check(write);
            await sleepUnlessAborted(controller.heartbeat.checkEveryMs, ctx.signal);
          }
        },
        'boot-stalls': async (ctx: RoleContext) => {
          const write = async (fn: (tx: Kysely<Database>) => Promise<void>) => (await ctx.write(fn)).ok;
          while (!ctx.signal.aborted) {
            await controller.timeline
              .check(write)
              .catch((err: unknown) => log.warn({ err: (err as Error).message }, 'timeline: stall check failed'));
            await sleepUnlessAborted(controller.timeline.checkEveryMs, ctx.signal);
          }
        },
        'log-pruning': async (ctx: RoleContext) => {
          while (!ctx.signal.aborted) {
            if (await ctx.fence())
              await controller.timeline
                .prune()
                .catch((err: unknown) => log.warn({ err: (err as Error).message }, 'timeline: prune failed'));
            await sleepUnlessAborted(controller.timeline.pruneEveryMs, ctx.signal);
          }
        },
      },
    });
    await elector.start();
    closers.push(() => elector.stop());
    // The heartbeat every reader of last_seen judges this member by, written off the main loop (docs/cluster.md,
    // "Member liveness"); closed before the elector marks the row stopped (the closers run in reverse).
    const heartbeat = startMemberHeartbeat({
      store: databaseUrl ? { kind: 'postgres', url: databaseUrl } : { kind: 'sqlite', file: store.sqlite!.name },
      memberId,
      everyMs: config.cluster.heartbeatSeconds * 1000,
      load: controller.memberLoad,
      log: log.child({ domain: 'cluster' }),
    });
    closers.push(() => heartbeat.close());
    if (databaseUrl) {
      // Events committed by any controller on the store wake this one's live feed at once (LISTEN/NOTIFY).
      const listening = listenForEvents({
        url: databaseUrl,
        onEvent: () => controller.eventFeed.wake(),
        log: log.child({ domain: 'event' }),
      });
      closers.push(() => listening.close());
      // Host changes committed by any controller make this one's cached host list pages stale.
      const hostChanges = listenForHostChanges({
        url: databaseUrl,
        pages: controller.inventory.hostPages,
        alsoChannels: [EVENTS_CHANNEL],
        log: log.child({ domain: 'inventory' }),
      });
      closers.push(() => hostChanges.close());
      // A load that finished at another member frees the slot this one gave for it (boot waiting room).
      const loads = listenForLoads({
        url: databaseUrl,
        origin: controller.loadingOrigin,
        loaded: (from) => void controller.loadingGate.loaded(from, Date.now()),
        log: log.child({ domain: 'boot' }),
      });
      closers.push(() => loads.close());
      // Token and user changes committed by any controller make this one's cached principals stale.
      const authChanges = listenForAuthChanges({
        url: databaseUrl,
        principals: controller.tokens.principals,
        log: log.child({ domain: 'auth' }),
      });
      closers.push(() => authChanges.close());
    }
    const adminTokenFile = server['admin-token-file'] ?? join(dataDir, 'admin-token');
    const adminToken = await controller.tokens.ensureFirstAdmin(adminTokenFile);
    if (adminToken) {
      (opts.print ?? ((l) => process.stdout.write(`${l}\n`)))(
        `First start: created admin token (shown once, also saved to ${adminTokenFile} mode 0600):\n  ${adminToken}`,
      );
    }
    // A boot storm opens thousands of connections at once; Node's default accept backlog (511) drops the SYNs past
    // it and each of those machines waits out a TCP retransmission (1 s, then 3 s, …). The kernel caps the
    // backlog at net.core.somaxconn (4096 by default since Linux 5.4).
    const address = await controller.app.listen({ ...urls.http, backlog: HTTP_BACKLOG }).catch((err: unknown) => {
      throw listenFailure('listen', server.listen, err);
    });
    if (urls.https) {
      // The same app answers on HTTPS: one route table, one auth hook.
      const tls = createHttpsServer({ cert: trust.server.certPem, key: trust.server.keyPem }, (req, res) =>
        controller.app.routing(req, res),
      );
      const t = urls.https;
      await new Promise<void>((resolve, reject) => {
        tls.once('error', reject);
        tls.listen({ port: t.port, host: t.host, backlog: HTTP_BACKLOG }, () => {
          tls.off('error', reject);
          resolve();
        });
      }).catch((err: unknown) => {
        throw listenFailure('tls-listen', server['tls-listen'], err);
      });
      tls.on('error', (err) =>
        log.error({ err: err.message, code: (err as { code?: string }).code }, 'HTTPS server error'),
      );
      closers.push(
        () =>
          new Promise<void>((r) => {
            tls.closeAllConnections();
            tls.close(() => r());
          }),
      );
      log.info(
        { address: apiUrl, fingerprint: trust.server.fingerprint },
        'HTTPS API listening (pin this fingerprint: KILN_CA_FINGERPRINT)',
      );
    }
    network = await startNetworkServers({
      db: store.db,
      sqlite: store.sqlite,
      inventory: controller.inventory,
      log,
      dhcp,
      tftp: config.tftp,
      localAddresses: () => local,
      signal: abort.signal,
      metrics: controller.metrics,
      boot: controller.bootBackend,
      onFatal: fatal,
      timeline: controller.bootObserver,
      // Option 7 carries no port: only a receiver on 514 can be offered.
      logServer: config.syslog.enabled && config.syslog.port === 514,
      databaseUrl: server['database-url'],
      discovery: { mode: config.discovery.discovery, allow: splitList(config.discovery['discovery-allow']) },
      member: { id: memberId, staleMs: config.cluster.staleSeconds * 1000 },
    });
    closers.push(() => network.close());
    if (config.syslog.enabled) {
      const syslog = await startSyslog({
        config: config.syslog,
        service: controller.syslog,
        metrics: controller.metrics,
        log: log.child({ domain: 'syslog' }),
      }).catch((err: unknown) => {
        throw listenFailure('syslog.port', `${config.syslog.address}:${config.syslog.port}`, err);
      });
      closers.push(() => syslog.close());
    }
    const running = network;
    const ra =
      dhcp.enabled && dhcp.routerAdvertisements.enabled ? raInterfaces(dhcp.routerAdvertisements, dhcp.subnets) : [];
    addControllerChecks(controller.checks, config.doctor, {
      dataDir,
      store: {
        describe: store.describe,
        ping: async () => void (await sql`select 1`.execute(store.db)),
        pending: () => pendingMigrations(store.db),
      },
      newestEventAt: async () => (await listEvents(store.db, { order: 'desc', limit: 1 }))[0]?.at ?? null,
      dhcp: {
        enabled: dhcp.enabled,
        subnets: dhcp.enabled ? dhcp.subnets.map((s) => ({ cidr: s.cidr, interface: s.interface })) : [],
        radvdInterfaces: ra.length > 0 ? ra : null,
      },
      running: () => running.status(),
      httpUrl: () => {
        const h = probeHost(urls.http.host);
        return `http://${h.includes(':') ? `[${h}]` : h}:${urls.http.port}`;
      },
      ipxe: {
        dir: ipxeDir,
        required: [dhcp.bootFiles.biosPxe, dhcp.bootFiles.efiX64],
        optional: [dhcp.bootFiles.efiArm64],
      },
      nodeImage: build.state,
      nodeImageServed: () => controller.nodeImages.served(),
      tls: {
        certPem: () => (urls.https ? trust.server.certPem : null),
        certFile: certFile && keyFile ? certFile : undefined,
      },
    });
    // On start, then every `doctor.intervalSeconds`: a check that turns fail is one event and one metric count (src/doctor).
    const doctoring = controller.doctor.runEvery(config.doctor.intervalSeconds * 1000, abort.signal);
    closers.push(() => doctoring);
    log.info({ address, dataDir }, 'kiln controller listening');
    return { address, adminToken, stop, failed };
  } catch (err) {
    await stop();
    throw err;
  }
}

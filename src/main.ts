// The composition root of `kiln serve`: config → store → services → servers,
// all under one AbortController; the first fatal error stops everything.
import { hkdfSync } from 'node:crypto';
import { createServer as createHttpsServer } from 'node:https';
import { isIP } from 'node:net';
import { hostname, networkInterfaces } from 'node:os';
import { existsSync } from 'node:fs';
import { dirname, join } from 'node:path';
import pino from 'pino';
import type { Config } from './config/load.js';
import { ensureWritableDirectory, listenFailure } from './config/start-up-failure.js';
import { configuredBootFiles, parseSection, startNetworkServers, type NetworkServers } from './boot/network-servers.js';
import { DhcpConfigSchema, type DhcpConfig } from './boot/dhcp/dhcp-config.js';
import { splitList, type DiscoveryMode } from './boot/discovery-policy.js';
import type { NodeImage } from './boot/http/host-script.js';
import { createController } from './controller.js';
import { buildDiscoveryImage } from './discovery/build-discovery-image.js';
import { KilnError } from './error/kiln-error.js';
import type { Logger } from './log/logger.js';
import type { SiteContext } from './template/render-context.js';
import { openDatabase } from './store/database.js';
import { migrateToLatest } from './store/migrate.js';
import { openSecret, sealSecret } from './trust/credential/secret-box.js';
import { loadTrust } from './trust/load-trust.js';

/**
 * A running controller: `address` is the URL it listens on; `stop()` closes
 * servers and the store. `failed` resolves (never rejects) when a server dies
 * for good (a socket that cannot be re-opened): the controller has then
 * already stopped itself, and the caller exits non-zero with that message.
 */
export interface RunningController {
  address: string;
  adminToken: string | null;
  stop(): Promise<void>;
  failed: Promise<KilnError>;
}

function splitListen(listen: string): { host: string; port: number } {
  const i = listen.lastIndexOf(':');
  return { host: listen.slice(0, i).replace(/^\[|\]$/g, ''), port: Number(listen.slice(i + 1)) };
}

/** The first non-internal IPv4 address, for the default public URL. */
function firstIpv4(): string {
  const a = Object.values(networkInterfaces())
    .flat()
    .find((x) => x && x.family === 'IPv4' && !x.internal);
  return a?.address ?? '127.0.0.1';
}

/** Site settings from the `site:` section of the config file (domain, timezone, ntp, dns). */
function siteOf(section: unknown): SiteContext {
  const s = (section && typeof section === 'object' ? section : {}) as Record<string, unknown>;
  const list = (v: unknown) => (Array.isArray(v) ? v.map(String) : []);
  return {
    ...s,
    domain: String(s['domain'] ?? 'kiln.internal'),
    timezone: String(s['timezone'] ?? 'UTC'),
    ntp: list(s['ntp']),
    dns: list(s['dns']),
  };
}

/**
 * Names for the API certificate: this machine's host name, localhost, every
 * local address, and `publicHost` (the host of the URL nodes call, which
 * verify it against Kiln's CA): an interface without carrier at start is not
 * in networkInterfaces(), yet it may hold that address.
 */
export function serverNames(listen: string, publicHost?: string): { dnsNames: string[]; ipAddresses: string[] } {
  const ips = Object.values(networkInterfaces()).flatMap((l) => (l ?? []).map((a) => a.address.split('%')[0]));
  const bound = splitListen(listen).host;
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

/** Kiln's node image, built (or found in the cache) in the background; null until ready. */
function startNodeImage(
  cacheDir: string,
  mode: string,
  log: Logger,
  signal: AbortSignal,
): { get: () => (NodeImage & { dir: string }) | null; settled: Promise<void> } {
  let image: (NodeImage & { dir: string }) | null = null;
  if (mode === 'off') return { get: () => null, settled: Promise.resolve() };
  // The build's children (apt-get, dpkg-deb, …) are killed when `signal` aborts (shutdown); `settled` waits for that.
  const settled = buildDiscoveryImage({ cacheDir, log: log.child({ domain: 'discovery' }), signal })
    .then((img) => {
      image = { dir: dirname(img.kernelPath), arch: 'x86_64' };
      log.info({ version: img.version, cached: img.cached }, 'node image ready');
    })
    .catch((err) => {
      if (signal.aborted) log.info({}, 'node image build cancelled by shutdown');
      else
        log.warn(
          { err: (err as Error).message },
          'node image could not be built; discovery boots will wait (run `kiln image build-discovery` to see why)',
        );
    });
  return { get: () => image, settled };
}

/** Starts the controller with a validated config. Throws KilnError (store_unavailable, config_invalid) on start-up failure. */
export async function runServe(
  config: Config,
  opts: { print?: (line: string) => void } = {},
): Promise<RunningController> {
  const v = config.values;
  const dataDir = String(v['data-dir']);
  const pinoLog = pino({
    level: String(v['log-level']),
    base: { service: 'kiln' },
    redact: { paths: ['req.headers.authorization', '*.password', 'password'], censor: '[redacted]' },
  });
  const log = pinoLog as unknown as Logger;
  const abort = new AbortController();
  // Every directory Kiln writes is created here, before anything uses it (0700: the data dir holds keys and tokens).
  ensureWritableDirectory('data-dir', dataDir);
  for (const sub of ['images', 'cache']) ensureWritableDirectory('data-dir', join(dataDir, sub));
  const store = await openDatabase({ dataDir, databaseUrl: v['database-url'] as string | undefined, log });
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
    const certFile = v['tls-cert-file'] as string | undefined;
    const keyFile = v['tls-key-file'] as string | undefined;
    if (!!certFile !== !!keyFile)
      throw new KilnError('config_invalid', 'set both tls-cert-file and tls-key-file, or neither');
    const ipxeDir = String(v['ipxe-dir']);
    const ipxeFound = existsSync(ipxeDir);
    if (!ipxeFound)
      log.warn(
        { ipxeDir },
        `ipxe-dir ${ipxeDir} does not exist: firmware cannot fetch iPXE from /ipxe/ or TFTP; install Debian's ipxe package (scripts/install-debian-packages.sh) or set --ipxe-dir (KILN_IPXE_DIR)`,
      );
    const { host, port } = splitListen(String(v['listen']));
    const publicHost = host === '0.0.0.0' || host === '::' ? firstIpv4() : host;
    const baseUrl = String(v['public-url'] ?? `http://${publicHost}:${port}`);
    // The API URL nodes verify (apiUrl below) has baseUrl's host: it must be in the certificate.
    const trust = await loadTrust({
      dataDir,
      server:
        certFile && keyFile
          ? { kind: 'files', certFile, keyFile }
          : { kind: 'issue', ...serverNames(String(v['listen']), new URL(baseUrl).hostname) },
      logger: log,
    });
    const tlsListen = String(v['tls-listen'] ?? '');
    const apiUrl = tlsListen ? `https://${new URL(baseUrl).hostname}:${splitListen(tlsListen).port}` : baseUrl;
    const build = startNodeImage(join(dataDir, 'cache'), String(v['node-image']), log, abort.signal);
    closers.push(() => build.settled);
    const nodeImage = build.get;
    let network: NetworkServers | null = null;
    // The subnets Kiln's DHCP serves, read here (before any server starts) for the discovery policy's source check.
    const dhcpView = parseSection<DhcpConfig>('dhcp', DhcpConfigSchema, config.sections['dhcp'], {
      serverAddress: publicHost,
      httpBase: baseUrl,
    });
    const controller = await createController({
      discovery: {
        settings: {
          mode: String(v['discovery']) as DiscoveryMode,
          allow: splitList(v['discovery-allow'] as string | undefined),
          perSubnetPerMinute: Number(v['discovery-limit']),
          bootSourceRanges: splitList(v['boot-source-ranges'] as string | undefined),
        },
        subnets: dhcpView.enabled ? dhcpView.subnets.map((s) => ({ cidr: s.cidr, mode: s.mode })) : [],
      },
      db: store.db,
      log,
      httpLogger: pinoLog,
      bodyLimit: Number(v['body-limit']),
      nodeRateLimit: Number(v['node-rate-limit']),
      sshCa: trust.sshCa,
      profilesDir: String(v['profiles-dir']),
      site: siteOf(config.sections['site']),
      urls: () => ({ baseUrl, apiUrl, caPem: trust.tlsCa.certPem }),
      installTokenKey: new Uint8Array(hkdfSync('sha256', trust.dataKey, '', 'kiln install token', 32)),
      seal: (clear, context) => sealSecret(trust.dataKey, clear, context),
      open: (sealed, context) => openSecret(trust.dataKey, sealed, context),
      leaseOwner: (ip) => (network ? network.leaseOwner(ip) : Promise.resolve(null)),
      templates: { timeoutMs: Number(v['template-timeout-ms']), maxOutputKib: Number(v['template-max-output-kib']) },
      powerConfig: {
        timeoutMs: Number(v['power-timeout']) * 1000,
        maxConcurrent: Number(v['power-max-concurrent']),
        libvirtTestDriver: v['power-libvirt-test-driver'] === true,
      },
      boot: {
        ...(ipxeFound ? { ipxeDir } : {}),
        ipxeBootFiles: configuredBootFiles(config.sections),
        imagesDir: join(dataDir, 'images'),
        nodeImageArgs: String(v['node-image-args']),
        nodeImage,
        cacheBytes: Number(v['http-cache-mib']) * 1024 * 1024,
      },
    });
    closers.push(() => controller.app.close());
    // BMC passwords sealed before they were bound to their host (context `bmc`) are re-sealed once, here.
    await controller.inventory.rebindBmcSeals((sealed) => openSecret(trust.dataKey, sealed, 'bmc'));
    const pollSeconds = Number(v['power-poll-interval']);
    if (pollSeconds > 0) {
      // Stopped by the shared abort; closed before the app so no poll round outlives the drivers.
      const polling = controller.power
        .runPoller({ intervalMs: pollSeconds * 1000, signal: abort.signal })
        .catch((err) => log.error({ err: (err as Error).message }, 'power poller stopped'));
      closers.push(() => polling);
    }
    const adminTokenFile = String(v['admin-token-file'] ?? join(dataDir, 'admin-token'));
    const adminToken = await controller.tokens.ensureFirstAdmin(adminTokenFile);
    if (adminToken) {
      (opts.print ?? ((l) => process.stdout.write(`${l}\n`)))(
        `First start: created admin token (shown once, also saved to ${adminTokenFile} mode 0600):\n  ${adminToken}`,
      );
    }
    const address = await controller.app.listen({ host, port }).catch((err: unknown) => {
      throw listenFailure('listen', String(v['listen']), err);
    });
    if (tlsListen) {
      // The same app answers on HTTPS: one route table, one auth hook.
      const tls = createHttpsServer({ cert: trust.server.certPem, key: trust.server.keyPem }, (req, res) =>
        controller.app.routing(req, res),
      );
      const t = splitListen(tlsListen);
      await new Promise<void>((resolve, reject) => {
        tls.once('error', reject);
        tls.listen(t.port, t.host, () => {
          tls.off('error', reject);
          resolve();
        });
      }).catch((err: unknown) => {
        throw listenFailure('tls-listen', tlsListen, err);
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
      sections: config.sections,
      publicHost,
      baseUrl,
      ipxeDir,
      signal: abort.signal,
      metrics: controller.metrics,
      boot: controller.bootBackend,
      onFatal: fatal,
    });
    closers.push(() => network.close());
    log.info({ address, dataDir }, 'kiln controller listening');
    return { address, adminToken, stop, failed };
  } catch (err) {
    await stop();
    throw err;
  }
}

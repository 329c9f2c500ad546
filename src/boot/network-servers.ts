import { Value } from '@sinclair/typebox/value';
import type { TSchema } from '@sinclair/typebox';
import type { Kysely } from 'kysely';
import type { Database } from '../store/schema.js';
import { KilnError, type ErrorIssue } from '../error/kiln-error.js';
import type { InventoryService } from '../inventory/inventory-service.js';
import { openSqliteHostByMacReader, type HostByMacLookup } from '../inventory/sql-host-store.js';
import { parseMac, type Mac } from '../inventory/mac.js';
import type { Logger } from '../log/logger.js';
import { DhcpConfigSchema, type DhcpConfig } from './dhcp/dhcp-config.js';
import { localIpv4Addresses, resolveSubnetInterfaces, type LocalAddress } from './dhcp/dhcp-listeners.js';
import { startDhcpServer, type DhcpBackend, type DhcpServer } from './dhcp/dhcp-server.js';
import { createSqlLeaseStore } from './dhcp/sql-lease-store.js';
import { createSqliteLeaseStore } from './dhcp/sqlite-lease-store.js';
import type BetterSqlite3 from 'better-sqlite3';
import { createDirectorySource } from './tftp/directory-source.js';
import { TftpConfigSchema, type TftpConfig } from './tftp/tftp-config.js';
import { startTftpServer, type TftpServer } from './tftp/tftp-server.js';
import { startConfiguredRouterAdvertiser, type RouterAdvertiser } from './ra/router-advertiser.js';
import type { Metrics } from '../metrics/metrics.js';
import type { DiscoveryPolicy } from './discovery-policy.js';
import { defaultBootFiles } from './boot-decision.js';
import { appendEvent } from '../event/sql-event-store.js';

/** A boot server's socket died and was re-opened, or could not be: counted, and recorded as `server.socket_reopened` / `server.socket_failed`. */
function socketEventRecorder(db: Kysely<Database>, log: Logger, server: 'dhcp' | 'tftp', metrics?: Metrics) {
  return (e: { kind: 'reopened' | 'failed'; interface: string | undefined; port: number; error: string }) => {
    metrics?.observeSocketReopen(server, e.kind);
    const where = `${server} ${e.interface ?? '*'}:${e.port}`;
    appendEvent(
      db,
      {
        actor: server,
        kind: `server.socket_${e.kind}`,
        subject: where,
        message:
          e.kind === 'reopened'
            ? `${where}: the socket died and was re-opened`
            : `${where}: the socket died and could not be re-opened; the controller stops`,
        data: { server, interface: e.interface ?? null, port: e.port, error: e.error },
      },
      new Date().toISOString(),
    ).catch((err) => log.warn({ err: (err as Error).message, kind: e.kind }, 'could not record the socket event'));
  };
}

/** Validates one nested config section (`dhcp:`, `tftp:`) with defaults, naming every bad key. */
export function parseSection<T>(name: string, schema: TSchema, raw: unknown, defaults: Record<string, unknown>): T {
  const value = Value.Default(schema, Value.Clone({ ...defaults, ...(raw && typeof raw === 'object' ? raw : {}) }));
  const issues: ErrorIssue[] = [...Value.Errors(schema, value)].map((e) => ({
    path: `${name}${e.path.replace(/\//g, '.')}`,
    code: 'bad_value',
    message: `${name}${e.path.replace(/\//g, '.')}: ${e.message}`,
  }));
  if (issues.length)
    throw new KilnError('config_invalid', `invalid configuration:\n  ${issues.map((i) => i.message).join('\n  ')}`, {
      issues,
    });
  return value as T;
}

/**
 * The boot file names DHCP hands out (`dhcp.bootFiles`, defaults when unset):
 * the only names HTTP `/ipxe/` and TFTP serve through a symlink out of the
 * iPXE directory (served-path.ts).
 */
export function configuredBootFiles(sections: Readonly<Record<string, unknown>>): string[] {
  const raw = (sections['dhcp'] as { bootFiles?: Record<string, unknown> } | undefined)?.bootFiles;
  return Object.values({ ...defaultBootFiles, ...(raw && typeof raw === 'object' ? raw : {}) }).filter(
    (v): v is string => typeof v === 'string',
  );
}

/** The DHCP server's view of the inventory: known hosts (reserved address from the label `dhcp.ip`), unknown MACs become `new` hosts when the discovery policy admits them (else they get no reply). */
export function inventoryDhcpBackend(
  inventory: InventoryService,
  log: Logger,
  lookup: HostByMacLookup = (m) => inventory.findHostByMac(m),
  discovery?: DiscoveryPolicy,
): DhcpBackend {
  // MACs whose host is being created: a client's retransmissions (and its REQUEST) during the insert add no second attempt.
  const creating = new Set<string>();
  return {
    async findHostByMac(mac) {
      const m = parseMac(mac);
      const h = m ? await lookup(m) : null;
      return h
        ? { hostId: h.id, state: h.state, hostname: h.name.split('.')[0], reservedIp: h.labels['dhcp.ip'] }
        : null;
    },
    onUnknownMac(mac, info) {
      const m = parseMac(mac);
      if (!m) return;
      if (creating.has(m)) return;
      if (discovery && !discovery.admitUnknown(m, { via: 'dhcp', subnet: info.subnet }).ok) return false;
      creating.add(m);
      inventory
        .createHost(
          { name: `node-${m.replace(/:/g, '')}`, nics: [{ mac: m, name: null, boot: true }] },
          { actor: 'dhcp', reason: `unknown MAC network-booted on ${info.subnet}` },
        )
        .then((h) => log.info({ mac: m, host: h.name }, 'unknown MAC network-booted: host created'))
        // Two requests of one client race to create it: the second gets conflict, which is fine.
        .catch((err) => {
          if ((err as KilnError).code !== 'conflict')
            log.warn({ mac: m, err: (err as Error).message }, 'could not create host for unknown MAC');
        })
        .finally(() => creating.delete(m));
    },
  };
}

/** Running DHCP and TFTP servers (each absent when disabled). */
export interface NetworkServers {
  leaseOwner(ip: string): Promise<Mac | null>;
  close(): Promise<void>;
}

/**
 * Starts DHCP and TFTP from the `dhcp:` and `tftp:` config sections. Both are
 * off unless configured; TFTP defaults to on when DHCP is on, serving
 * Debian's iPXE binaries from `ipxeDir`.
 */
export async function startNetworkServers(opts: {
  db: Kysely<Database>;
  sqlite?: BetterSqlite3.Database | undefined;
  inventory: InventoryService;
  log: Logger;
  sections: Readonly<Record<string, unknown>>;
  publicHost: string;
  baseUrl: string;
  ipxeDir: string;
  signal?: AbortSignal;
  metrics?: Metrics;
  discovery?: DiscoveryPolicy;
  /** The controller's one fatal channel: a server whose socket cannot be re-opened reports here, and the controller stops. */
  onFatal?: (err: KilnError) => void;
  /** This machine's IPv4 addresses (default: the OS's), for the interface of each attached subnet. */
  localAddresses?: () => LocalAddress[];
}): Promise<NetworkServers> {
  const parsed = parseSection<DhcpConfig>('dhcp', DhcpConfigSchema, opts.sections['dhcp'], {
    serverAddress: opts.publicHost,
    httpBase: opts.baseUrl,
  });
  // Each attached subnet's interface comes from this machine's addresses, before anything uses it (DHCP sockets, radvd).
  const local = parsed.enabled ? (opts.localAddresses ?? localIpv4Addresses)() : [];
  const dhcp: DhcpConfig = parsed.enabled
    ? { ...parsed, subnets: resolveSubnetInterfaces(parsed.subnets, local, parsed.serverAddress) }
    : parsed;
  const tftp = parseSection<TftpConfig>('tftp', TftpConfigSchema, opts.sections['tftp'], {
    enabled: dhcp.enabled,
    root: opts.ipxeDir,
  });
  const leases = opts.sqlite ? createSqliteLeaseStore(opts.db, opts.sqlite) : createSqlLeaseStore(opts.db);
  let dhcpServer: DhcpServer | null = null;
  let tftpServer: TftpServer | null = null;
  let ra: RouterAdvertiser | null = null;
  let closeLookup = (): void => {};
  try {
    ra = await startConfiguredRouterAdvertiser(dhcp, opts.log, opts.signal);
    if (tftp.enabled) {
      const tftpLog = opts.log.child({ domain: 'tftp' });
      tftpServer = await startTftpServer({
        config: tftp,
        source: await createDirectorySource(tftp.root, { bootFiles: Object.values(dhcp.bootFiles) }),
        log: tftpLog,
        signal: opts.signal,
        countSocketError: opts.metrics
          ? (server, op, errno) => opts.metrics!.observeSocketError(server, op, errno)
          : undefined,
        onSocketEvent: socketEventRecorder(opts.db, tftpLog, 'tftp', opts.metrics),
        onFatal: opts.onFatal,
        // One line per download: which machine (peer address) got which boot file, and whether it finished.
        onTransferEnd: (e) => {
          tftpLog.info(
            { peer: e.peer, path: e.path, bytes: e.bytes, outcome: e.outcome, ms: e.ms },
            'tftp: transfer ended',
          );
          opts.metrics?.observeTftp(e.outcome, e.bytes, e.ms / 1000);
        },
      });
      const t = tftpServer;
      opts.metrics?.watchTftp(() => t.activeTransfers);
      opts.log.info({ root: tftp.root, address: tftp.address }, 'TFTP serving');
    }
    if (dhcp.enabled) {
      const sqliteLookup = opts.sqlite && !opts.sqlite.memory ? openSqliteHostByMacReader(opts.sqlite.name) : null;
      closeLookup = () => sqliteLookup?.close();
      const dhcpLog = opts.log.child({ domain: 'dhcp' });
      dhcpServer = await startDhcpServer({
        config: dhcp,
        backend: inventoryDhcpBackend(opts.inventory, opts.log, sqliteLookup?.lookup, opts.discovery),
        leases,
        log: dhcpLog,
        signal: opts.signal,
        localAddresses: () => local,
        countSocketError: opts.metrics
          ? (server, op, errno) => opts.metrics!.observeSocketError(server, op, errno)
          : undefined,
        onSocketEvent: socketEventRecorder(opts.db, dhcpLog, 'dhcp', opts.metrics),
        onFatal: opts.onFatal,
      });
      const d = dhcpServer;
      opts.metrics?.watchDhcp(() => d.stats);
      opts.log.info(
        { subnets: dhcp.subnets.map((s) => `${s.cidr} ${s.mode} ${s.interface ? `on ${s.interface}` : 'relayed'}`) },
        'DHCP serving',
      );
    }
  } catch (err) {
    await ra?.close();
    await tftpServer?.close();
    closeLookup();
    throw err;
  }
  return {
    async leaseOwner(ip) {
      const l = await leases.getByIp(ip);
      return l && l.state === 'bound' && l.expiresAt > Date.now() ? parseMac(l.mac) : null;
    },
    async close() {
      await dhcpServer?.close();
      closeLookup();
      await tftpServer?.close();
      await ra?.close();
    },
  };
}

import type { Kysely } from 'kysely';
import type { KilnError } from '../error/kiln-error.js';
import type { InventoryService } from '../inventory/inventory-service.js';
import { openSqliteHostByMacReader, type HostByMacLookup } from '../inventory/sql-host-store.js';
import { parseMac, type Mac } from '../inventory/mac.js';
import type { Logger } from '../log/logger.js';
import type { DhcpConfig } from './dhcp/dhcp-config.js';
import { localIpv4Addresses, type LocalAddress } from './dhcp/dhcp-listeners.js';
import { startDhcpServer, type DhcpBackend, type DhcpServer } from './dhcp/dhcp-server.js';
import { createSqlLeaseStore } from './dhcp/sql-lease-store.js';
import { createSqliteLeaseStore } from './dhcp/sqlite-lease-store.js';
import type BetterSqlite3 from 'better-sqlite3';
import { createDirectorySource } from './tftp/directory-source.js';
import type { TftpConfig } from './tftp/tftp-config.js';
import { startTftpServer, type TftpServer } from './tftp/tftp-server.js';
import { startConfiguredRouterAdvertiser, type RouterAdvertiser } from './ra/router-advertiser.js';
import type { Metrics } from '../metrics/metrics.js';
import type { DiscoveryPolicy } from './discovery-policy.js';
import { appendEvent } from '../event/sql-event-store.js';

/** A boot server's socket died and was re-opened, or could not be: counted, and recorded as `server.socket_reopened` / `server.socket_failed`. */
function socketEventRecorder(db: Kysely<any>, log: Logger, server: 'dhcp' | 'tftp', metrics?: Metrics) {
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
 * Starts DHCP and TFTP from their validated config slices (parse-config.ts:
 * both off unless configured; TFTP on with DHCP by default, serving Debian's
 * iPXE binaries from ipxe-dir).
 */
export async function startNetworkServers(opts: {
  db: Kysely<any>;
  sqlite?: BetterSqlite3.Database | undefined;
  inventory: InventoryService;
  log: Logger;
  /** The `dhcp:` slice, each attached subnet's interface already resolved (main does it before the store opens). */
  dhcp: DhcpConfig;
  tftp: TftpConfig;
  signal?: AbortSignal;
  metrics?: Metrics;
  discovery?: DiscoveryPolicy;
  /** The controller's one fatal channel: a server whose socket cannot be re-opened reports here, and the controller stops. */
  onFatal?: (err: KilnError) => void;
  /** This machine's IPv4 addresses (default: the OS's), for the interface of each attached subnet. */
  localAddresses?: () => LocalAddress[];
}): Promise<NetworkServers> {
  const { dhcp, tftp } = opts;
  const local = dhcp.enabled ? (opts.localAddresses ?? localIpv4Addresses)() : [];
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

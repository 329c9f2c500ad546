import type { Kysely } from 'kysely';
import type { Database } from '../schema.js';
import { isConflict, KilnError } from '../error/kiln-error.js';
import type { HostByMacLookup, InventoryService } from '../inventory/inventory-service.js';
import { parseMac, type Mac } from '../net/mac.js';
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
import type { DiscoveryPolicy, DiscoverySettings } from './discovery-policy.js';
import { createBootBackend, type BootBackend } from './boot-backend.js';
import type { NewEvent } from '../event/event.js';
import type { DhcpPacket } from '../protocols/dhcp4/packet.js';
import { dhcpHostLookup } from './dhcp/dhcp-host-lookup.js';
import type { DhcpWorkerStore } from './dhcp/dhcp-worker-protocol.js';
import { startDhcpWorker } from './dhcp/dhcp-worker-server.js';
import { serverIdsOf } from './dhcp/member-takeover.js';
import { watchMembers, type MemberWatch } from './dhcp/member-watch.js';

/** A boot server's socket died and was re-opened, or could not be: counted, and recorded as `server.socket_reopened` / `server.socket_failed`. */
function socketEventRecorder(
  record: (e: NewEvent) => Promise<void>,
  log: Logger,
  server: 'dhcp' | 'tftp',
  metrics?: Metrics,
) {
  return (e: { kind: 'reopened' | 'failed'; interface: string | undefined; port: number; error: string }) => {
    metrics?.observeSocketReopen(server, e.kind);
    const where = `${server} ${e.interface ?? '*'}:${e.port}`;
    record({
      actor: server,
      kind: `server.socket_${e.kind}`,
      subject: where,
      message:
        e.kind === 'reopened'
          ? `${where}: the socket died and was re-opened`
          : `${where}: the socket died and could not be re-opened; the controller stops`,
      data: { server, interface: e.interface ?? null, port: e.port, error: e.error },
    }).catch((err) => log.warn({ err: (err as Error).message, kind: e.kind }, 'could not record the socket event'));
  };
}

/**
 * DHCP's view of the boot backend: known hosts (reserved address from the
 * label `dhcp.ip`) by `lookup` (default: the backend's), and unknown MACs
 * enrolled through the backend's one creation path; a MAC the discovery
 * policy refuses gets no reply.
 */
export function dhcpBackendOf(
  boot: BootBackend,
  log: Logger,
  lookup: HostByMacLookup = (m) => boot.hostByMac(m),
): DhcpBackend {
  return {
    findHostByMac: dhcpHostLookup(lookup),
    onUnknownMac(mac, info) {
      const m = parseMac(mac);
      if (!m) return;
      const enrolment = boot.enrolUnknown(m, { via: 'dhcp', subnet: info.subnet });
      if (!enrolment.ok) return false;
      // Not awaited: the client retransmits, and its next request finds the host.
      enrolment.host.catch((err) => {
        // Two requests of one client race to create it: the second gets conflict, which is fine. A claim of shared
        // admissions that found the minute full refuses it (logged by the discovery policy); the next report is refused.
        if (isConflict(err) || (err instanceof KilnError && err.code === 'rate_limited')) return;
        log.warn({ mac: m, err: (err as Error).message }, 'could not create host for unknown MAC');
      });
    },
  };
}

/** `dhcpBackendOf` over a boot backend built from the inventory and a discovery policy alone (no deployments). */
export function inventoryDhcpBackend(
  inventory: InventoryService,
  log: Logger,
  lookup?: HostByMacLookup,
  discovery?: DiscoveryPolicy,
): DhcpBackend {
  return dhcpBackendOf(createBootBackend({ inventory, discovery, log, bootDeployment: async () => null }), log, lookup);
}

/** Where the DHCP thread opens the store: the SQLite file, or PostgreSQL; null for an in-memory SQLite database. */
function dhcpWorkerStore(
  sqlite: BetterSqlite3.Database | undefined,
  databaseUrl: string | undefined,
): DhcpWorkerStore | null {
  if (sqlite) return sqlite.memory ? null : { kind: 'sqlite', file: sqlite.name };
  return databaseUrl ? { kind: 'postgres', url: databaseUrl } : null;
}

type DhcpReplySeen = { mac: string; request: DhcpPacket; reply: DhcpPacket };

/** What the boot timeline hears from DHCP and TFTP. */
export interface BootObserver {
  dhcpReply(e: { mac: string; request: DhcpPacket; reply: DhcpPacket }): void;
  tftpTransfer(e: { ip: string; path: string; bytes: number; outcome: string; ms: number }): void;
  tftpRefused(e: { ip: string; path: string; reason: string }): void;
}

/** Running DHCP and TFTP servers (each absent when disabled). */
export interface NetworkServers {
  leaseOwner(ip: string): Promise<Mac | null>;
  /** What runs now, for the self-check: DHCP's sockets, TFTP's bound address, radvd's PID (each null when not running). */
  status(): {
    dhcp: ReadonlyArray<{ interface: string | undefined; port: number }> | null;
    tftp: { address: string; port: number } | null;
    radvdPid: number | null;
  };
  close(): Promise<void>;
}

/**
 * Starts DHCP and TFTP from their validated config slices (parse-config.ts:
 * both off unless configured; TFTP on with DHCP by default, serving Debian's
 * iPXE binaries from ipxe-dir).
 */
export async function startNetworkServers(opts: {
  db: Kysely<Database>;
  sqlite?: BetterSqlite3.Database | undefined;
  /** Opens the DHCP hot path's host-by-MAC reader (`inventory.openHostByMacReader`). */
  inventory: Pick<InventoryService, 'openHostByMacReader'>;
  /** Hosts by MAC, enrolment of unknown MACs, and the event log. */
  boot: BootBackend;
  log: Logger;
  /** The `dhcp:` slice, each attached subnet's interface already resolved (main does it before the store opens). */
  dhcp: DhcpConfig;
  tftp: TftpConfig;
  signal?: AbortSignal;
  metrics?: Metrics;
  /** The controller's one fatal channel: a server whose socket cannot be re-opened reports here, and the controller stops. */
  onFatal?: (err: KilnError) => void;
  /** This machine's IPv4 addresses (default: the OS's), for the interface of each attached subnet. */
  localAddresses?: () => LocalAddress[];
  /** The boot timeline (src/timeline): DHCP replies sent, TFTP transfers ended or refused. Each must not throw. */
  timeline?: BootObserver;
  /** Offer this controller as the syslog server (DHCP option 7). */
  logServer?: boolean;
  /** The PostgreSQL store's URL (absent: SQLite, `sqlite`), for the DHCP thread's own connections (`dhcp.worker`). */
  databaseUrl?: string | undefined;
  /** The discovery settings the DHCP thread decides alone (default: `auto`, everything goes to `boot`'s policy). */
  discovery?: Pick<DiscoverySettings, 'mode' | 'allow'>;
  /**
   * This member of the store (its id, cluster.staleSeconds in ms): with PostgreSQL, DHCP answers the REQUESTs that name
   * a dead member (docs/cluster.md, "DHCP REQUESTs for a dead member"). Absent: never.
   */
  member?: { id: string; staleMs: number };
}): Promise<NetworkServers> {
  const { dhcp, tftp } = opts;
  const local = dhcp.enabled ? (opts.localAddresses ?? localIpv4Addresses)() : [];
  const leases = opts.sqlite
    ? createSqliteLeaseStore(opts.db, opts.sqlite)
    : createSqlLeaseStore(opts.db, {
        postgres: { url: opts.databaseUrl, log: opts.log.child({ domain: 'dhcp' }) },
      });
  let dhcpServer: DhcpServer | null = null;
  let tftpServer: TftpServer | null = null;
  let ra: RouterAdvertiser | null = null;
  let closeLookup = (): void => {};
  let watch: MemberWatch | undefined;
  const member =
    dhcp.enabled && opts.member && opts.databaseUrl && !opts.sqlite
      ? { memberId: opts.member.id, ownServerIds: serverIdsOf(dhcp), staleMs: opts.member.staleMs }
      : undefined;
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
        onSocketEvent: socketEventRecorder((e) => opts.boot.recordEvent(e), tftpLog, 'tftp', opts.metrics),
        onFatal: opts.onFatal,
        // One line per download: which machine (peer address) got which boot file, and whether it finished.
        onTransferEnd: (e) => {
          tftpLog.info(
            { peer: e.peer, path: e.path, bytes: e.bytes, outcome: e.outcome, ms: e.ms },
            'tftp: transfer ended',
          );
          opts.metrics?.observeTftp(e.outcome, e.bytes, e.ms / 1000);
          opts.timeline?.tftpTransfer({
            ip: e.peer.address,
            path: e.path,
            bytes: e.bytes,
            outcome: e.outcome,
            ms: e.ms,
          });
        },
        onRefused: opts.timeline
          ? (e) => opts.timeline!.tftpRefused({ ip: e.peer.address, path: e.path, reason: e.reason })
          : undefined,
      });
      const t = tftpServer;
      opts.metrics?.watchTftp(() => t.activeTransfers, tftp.maxTransfers);
      opts.log.info({ root: tftp.root, address: tftp.address }, 'TFTP serving');
    }
    if (dhcp.enabled) {
      const dhcpLog = opts.log.child({ domain: 'dhcp' });
      const common = {
        config: dhcp,
        signal: opts.signal,
        countSocketError: opts.metrics
          ? (server: string, op: 'send' | 'receive', errno: string) =>
              opts.metrics!.observeSocketError(server, op, errno)
          : undefined,
        onSocketEvent: socketEventRecorder((e) => opts.boot.recordEvent(e), dhcpLog, 'dhcp', opts.metrics),
        onFatal: opts.onFatal,
        onReply: opts.timeline ? (e: DhcpReplySeen) => opts.timeline!.dhcpReply(e) : undefined,
        logServer: opts.logServer,
      };
      const store = dhcp.worker ? dhcpWorkerStore(opts.sqlite, opts.databaseUrl) : null;
      if (store) {
        // Its own thread, its own database connections; unknown MACs come back here to the boot backend.
        const backend = dhcpBackendOf(opts.boot, opts.log, async () => null);
        dhcpServer = await startDhcpWorker({
          ...common,
          local,
          store,
          discovery: opts.discovery ?? { mode: 'auto', allow: [] },
          log: opts.log,
          ...(store.kind === 'postgres' && member ? { member } : {}),
          onUnknownMac: (mac, info) => backend.onUnknownMac!(mac, info),
        });
      } else {
        if (dhcp.worker)
          opts.log.info(
            {},
            'dhcp: served on the main thread: the store is in memory, which another thread cannot open',
          );
        const reader = opts.inventory.openHostByMacReader(opts.sqlite);
        closeLookup = () => reader.close();
        if (member && opts.databaseUrl) watch = watchMembers({ url: opts.databaseUrl, ...member, log: dhcpLog });
        const w = watch;
        dhcpServer = await startDhcpServer({
          ...common,
          ...(w ? { deadMembers: () => w.dead() } : {}),
          backend: dhcpBackendOf(opts.boot, opts.log, reader.lookup),
          leases,
          log: dhcpLog,
          localAddresses: () => local,
        });
      }
      const d = dhcpServer;
      opts.metrics?.watchDhcp(() => ({ ...d.stats, queued: d.queued, queueLimit: dhcp.queueLimit }));
      opts.log.info(
        {
          subnets: dhcp.subnets.map((s) => `${s.cidr} ${s.mode} ${s.interface ? `on ${s.interface}` : 'relayed'}`),
          thread: store ? 'own' : 'main',
        },
        'DHCP serving',
      );
    }
  } catch (err) {
    await ra?.close();
    await tftpServer?.close();
    await watch?.close();
    closeLookup();
    throw err;
  }
  return {
    async leaseOwner(ip) {
      const l = await leases.getByIp(ip);
      return l && l.state === 'bound' && l.expiresAt > Date.now() ? parseMac(l.mac) : null;
    },
    status: () => ({
      dhcp: dhcpServer?.listeners ?? null,
      tftp: tftpServer?.address ?? null,
      radvdPid: ra?.pid() ?? null,
    }),
    async close() {
      await dhcpServer?.close();
      await watch?.close();
      closeLookup();
      await tftpServer?.close();
      await ra?.close();
    },
  };
}

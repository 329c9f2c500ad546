import { readFileSync } from 'node:fs';
import { DecodeError } from '../../protocols/decode-error.js';
import { DhcpMessageType, DhcpOption } from '../../protocols/dhcp4/codes.js';
import { getIpOption, getMessageType } from '../../protocols/dhcp4/options.js';
import { decodeDhcp, encodeDhcp, macOf, peekMessageType, type DhcpPacket } from '../../protocols/dhcp4/packet.js';
import { silentLogger, type Logger } from '../../log/logger.js';
import type { DhcpConfig, DhcpSubnet } from './dhcp-config.js';
import { DHCP_PORTS } from './dhcp-config.js';
import type { DatagramSocket, UdpPeer } from '../../net/datagram/datagram-socket.js';
import {
  bindDhcpListener,
  bindDhcpListeners,
  listenersOf,
  localIpv4Addresses,
  resolveSubnetInterfaces,
  type DhcpBindOptions,
  type DhcpListener,
  type LocalAddress,
} from './dhcp-listeners.js';
import { KilnError } from '../../error/kiln-error.js';
import { listenFailure } from '../../startup/start-up-failure.js';
import { createSocketErrorLog } from '../../net/datagram/socket-error-log.js';
import { createByteSlab } from '../../net/datagram/byte-slab.js';
import { reopenWithBackoff } from '../../net/datagram/reopen-socket.js';
import { decideDhcp } from './decide-dhcp.js';
import type { LeaseStore } from './lease-store.js';
import { createLeaseWriter } from './lease-writer.js';
import { createLeaseIndex } from './lease-index.js';
import { createAddressAllocator } from './address-allocator.js';
import { selectSubnet } from './subnet-math.js';
import { takeoverOf, type DeadMember } from './member-takeover.js';
import { admissionClassOf, createAdmissionQueue, type AdmissionClass, type ShedReason } from './admission-queue.js';

/** A host as the DHCP server needs it (from the boot backend, see `dhcpBackendOf` in network-servers.ts). */
export interface DhcpHost {
  hostId: string;
  state: string;
  /** A reserved address (reservation mode needs one; full mode prefers it over the pool). */
  reservedIp?: string | undefined;
  hostname?: string | undefined;
}

/** The server's narrow view of the boot backend (boot-backend.ts). Called once per request; must not throw for unknown MACs (return null). */
export interface DhcpBackend {
  findHostByMac(mac: string): Promise<DhcpHost | null>;
  /**
   * Called for a network-booting MAC Kiln does not know, e.g. to enrol it as a `new` host (not awaited).
   * Returning false means the discovery policy refuses the MAC: it gets no reply at all.
   */
  onUnknownMac?(
    mac: string,
    info: { subnet: string; vendorClass?: string | undefined; uuid?: string | undefined },
  ): boolean | void;
}

/** Everything `startDhcpServer` needs. `sockets` and `ports` are for tests (a socket list stands for per-interface sockets); `now` is ms since the epoch. */
export interface DhcpServerOptions {
  config: DhcpConfig;
  backend: DhcpBackend;
  leases: LeaseStore;
  log?: Logger;
  signal?: AbortSignal;
  now?: () => number;
  ports?: { dhcp: number; pxe: number };
  sockets?: { dhcp: DatagramSocket | readonly DhcpListener[]; pxe?: DatagramSocket | readonly DhcpListener[] };
  /** This machine's IPv4 addresses, for the interface of each attached subnet (default: the OS's; with test `sockets`, only when given). */
  localAddresses?: () => LocalAddress[];
  /** Offer this controller as the syslog server (option 7) with each address: `kiln serve` sets it when syslog is on, port 514. */
  logServer?: boolean;
  /** Counts one socket error (for /metrics). */
  countSocketError?: (server: string, op: 'send' | 'receive', errno: string) => void;
  /** A socket died and was re-opened (`reopened`), or could not be (`failed`): for the event log. */
  onSocketEvent?: (e: {
    kind: 'reopened' | 'failed';
    interface: string | undefined;
    port: number;
    error: string;
  }) => void;
  /** The controller's fatal channel: a socket that cannot be re-opened stops the controller. Without it, the server only logs. */
  onFatal?: (err: KilnError) => void;
  /** Pauses before each re-open attempt (default REOPEN_DELAYS_MS). */
  reopenDelaysMs?: readonly number[];
  /** Binds one listener (default `bindDhcpListener`, real UDP); tests pass sockets they can kill. */
  bindListener?: typeof bindDhcpListener;
  /**
   * How often the devices of bound sockets are checked (ms, default 2000; 0 = never): a device deleted or
   * re-created (a bridge rebuilt) leaves its socket bound to an ifindex that no longer exists, silently; the
   * check treats that socket as dead and re-opens it. `ifindexOf` reads the device's index (null: absent).
   */
  deviceCheckMs?: number;
  ifindexOf?: (dev: string) => number | null;
  /** Called after each reply is sent (the boot timeline); must not throw. */
  onReply?: (e: { mac: string; request: DhcpPacket; reply: DhcpPacket }) => void;
  /**
   * The dead members of this store by DHCP server identifier, now (src/boot/dhcp/member-watch.ts; read once per REQUEST, must be
   * cheap): a SELECTING REQUEST naming one is answered here as that member would have (member-takeover.ts). Absent: none.
   */
  deadMembers?: () => ReadonlyMap<string, DeadMember>;
  /** Called after each reply is sent with where its time went (diagnostics, e.g. the bench's KILN_DHCP_STAGES); must not throw. */
  onTiming?: (t: DhcpTiming) => void;
}

/**
 * Where one answered datagram's time went, in ms of `performance.now()`, from the moment its socket
 * callback ran (the kernel's queue before that is not seen). `committedMs` is 0 when nothing was written.
 */
export interface DhcpTiming {
  /** Option 53 of the request. */
  messageType: number;
  /** `performance.now()` when the socket callback received it. */
  receivedAt: number;
  /** Waiting in the admission queue. */
  queuedMs: number;
  /** Taken from the queue until the reply was decided (host lookup, address choice, decision). */
  decidedMs: number;
  /** Waiting for the group commit (ACKs). */
  committedMs: number;
  /** Received until sent. */
  totalMs: number;
}

/** The kernel's index of network device `dev`, or null when there is none. */
function sysIfindex(dev: string): number | null {
  // A device being deleted can answer ENODEV (or an empty read) instead of ENOENT for a moment: absent either way.
  let text: string;
  try {
    text = readFileSync(`/sys/class/net/${dev}/ifindex`, 'utf8').trim();
  } catch {
    return null;
  }
  const index = Number(text);
  return text !== '' && Number.isInteger(index) && index > 0 ? index : null;
}

/** A running server. `close()` stops receiving, waits for pending lease commits, and closes the sockets. */
export interface DhcpServer {
  close(): Promise<void>;
  /**
   * `shed`: datagrams dropped unanswered by admission control (queue full or waited too long), never handled.
   * `takenOver`: REQUESTs answered (ACK or NAK) for a dead member of the store, also counted in `replied`.
   */
  readonly stats: {
    received: number;
    replied: number;
    ignored: number;
    malformed: number;
    failed: number;
    shed: number;
    takenOver: number;
  };
  /** Datagrams waiting in the admission queue now. */
  readonly queued: number;
  /** The bound sockets: each one's device (undefined: unbound) and port (67, or 4011 for proxy mode), for the self-check. */
  readonly listeners: ReadonlyArray<{ interface: string | undefined; port: number }>;
}

/**
 * Datagrams handled per event-loop turn. Between turns the loop reads the
 * sockets again (libuv reads up to 32 datagrams per socket per turn), so
 * reading keeps ahead of handling and admission control, not the kernel
 * buffer, decides what is dropped under overload.
 */
const HANDLED_PER_TURN = 16;
/** Most shed-datagram log lines: one per this many ms, with the counts since the last. */
const SHED_LOG_MS = 10_000;

/** Binds ports 67 (and 4011 when a subnet is in proxy mode), per interface when subnets name one, and serves until `close()` or `signal` aborts. */
export async function startDhcpServer(opts: DhcpServerOptions): Promise<DhcpServer> {
  const { config, backend } = opts;
  // The store's start-up (SQLite: its commit thread) is done before the first request, not during a storm's first second.
  await opts.leases.ready?.();
  const leases = createLeaseIndex(opts.leases);
  const log = opts.log ?? silentLogger;
  const now = opts.now ?? Date.now;
  const ports = opts.ports ?? { dhcp: DHCP_PORTS.server, pxe: DHCP_PORTS.pxe };
  // Attached subnets get the interface holding their address (the README's `attached: true` on a multi-homed
  // controller without a default route: replies leave by the subnet's own interface, not the route table's pick).
  const local = opts.localAddresses ?? (opts.sockets ? undefined : localIpv4Addresses);
  const subnets = local ? resolveSubnetInterfaces(config.subnets, local(), config.serverAddress) : config.subnets;
  const needPxe = subnets.some((s) => s.mode === 'proxy');
  const recvBufferBytes = config.receiveBufferKiB * 1024;
  const reportError = createSocketErrorLog({ server: 'dhcp', log, count: opts.countSocketError });
  const stopping = new AbortController();
  const bindOpts = (port: number): DhcpBindOptions => ({
    address: config.listenAddress,
    port,
    subnets,
    recvBufferBytes,
    trouble: (dev) => ({
      onError: (err, op) => reportError(err, op, { interface: dev ?? '*', port }),
      onDeath: (err) => void reopen(port, dev, err),
    }),
  });
  const bindOne = opts.bindListener ?? bindDhcpListener;
  const bind = (port: number) =>
    bindDhcpListeners(bindOpts(port), bindOne).catch((err: unknown) => {
      throw err instanceof KilnError
        ? err
        : listenFailure('dhcp.listenAddress', `${config.listenAddress}:${port}`, err);
    });
  const dhcpSocks = opts.sockets && !opts.bindListener ? listenersOf(opts.sockets.dhcp) : await bind(ports.dhcp);
  const pxeSocks =
    opts.sockets && !opts.bindListener
      ? listenersOf(opts.sockets.pxe)
      : needPxe
        ? await bind(ports.pxe).catch((err) => {
            for (const l of dhcpSocks) l.socket.close();
            throw err;
          })
        : [];
  const writer = createLeaseWriter(leases, now, config.groupCommitMaxBatch, config.groupCommitIntervalMs);
  const allocator = createAddressAllocator(leases, now, config.offerHoldSeconds * 1000);
  const stats = { received: 0, replied: 0, ignored: 0, malformed: 0, failed: 0, shed: 0, takenOver: 0 };
  const timing = opts.onTiming;
  // Replies are carved out of 64 KiB blocks: a backing store per reply was a malloc and a GC finalizer each.
  const replyBytes = createByteSlab();
  // Handlers in flight by class (a REQUEST's waits for its group commit; a DISCOVER's for no write), and who waits
  // for none to be (close).
  const inflightOf: Record<AdmissionClass, number> = { complete: 0, new: 0 };
  let inflight = 0;
  let whenIdle: (() => void) | undefined;
  // Shed since the last log line, by class and reason; logged at most once per SHED_LOG_MS.
  const shedSince = { new: { full: 0, expired: 0 }, complete: { full: 0, expired: 0 } };
  let shedLoggedAt = -Infinity;
  const logShed = (): void => {
    const n = shedSince.new.full + shedSince.new.expired + shedSince.complete.full + shedSince.complete.expired;
    if (n === 0) return;
    log.warn(
      {
        shedDiscover: shedSince.new,
        shedRequest: shedSince.complete,
        queued: queue.size,
        windowMs: Math.min(SHED_LOG_MS, now() - shedLoggedAt),
      },
      `dhcp: overloaded: ${n} datagrams shed unanswered (DISCOVERs first; queue limit ${config.queueLimit}, age limit ${config.queueMaxAgeMs} ms); clients retransmit`,
    );
    shedLoggedAt = now();
    shedSince.new = { full: 0, expired: 0 };
    shedSince.complete = { full: 0, expired: 0 };
  };
  const shed = (cls: AdmissionClass, reason: ShedReason): void => {
    stats.shed++;
    shedSince[cls][reason]++;
    if (now() - shedLoggedAt >= SHED_LOG_MS) logShed();
  };
  interface Arrival {
    bytes: Uint8Array;
    from: UdpPeer;
    port: 'dhcp' | 'pxe';
    sock: DatagramSocket;
    arrival: string | undefined;
    /** When it was received (ms): a lease bound for it starts then (lease-upsert.ts orders requests by lease end). */
    at: number;
    /** `performance.now()` at the socket callback, for `onTiming` (0 without it). */
    t0: number;
    cls: AdmissionClass;
  }
  const queue = createAdmissionQueue<Arrival>(
    {
      capacity: config.queueLimit,
      maxAgeMs: { new: config.queueMaxAgeMs, complete: config.queueMaxAgeMs * 4 },
    },
    (_item, cls, reason) => shed(cls, reason),
  );
  let draining: NodeJS.Immediate | undefined;
  /**
   * The class `drain` may take next: both (undefined: REQUESTs first), only DISCOVERs while the handlers waiting for
   * commits are at their bound (an OFFER needs no write, so it never waits behind a slow commit), or none.
   */
  const takeable = (): AdmissionClass | undefined | null => {
    const complete = inflightOf.complete < config.queueLimit && queue.sizeOf('complete') > 0;
    const fresh = inflightOf.new < config.queueLimit && queue.sizeOf('new') > 0;
    return complete && fresh ? undefined : complete ? 'complete' : fresh ? 'new' : null;
  };
  /** Handles up to HANDLED_PER_TURN queued datagrams (REQUESTs first), then yields to the sockets. */
  const drain = (): void => {
    draining = undefined;
    // In-flight handlers are bounded like the queue, each class on its own.
    for (let n = 0; n < HANDLED_PER_TURN; n++) {
      const only = takeable();
      if (only === null) break;
      const a = queue.take(now(), only);
      if (!a) break;
      const cls = a.cls;
      inflightOf[cls]++;
      inflight++;
      void handle(a.bytes, a.from, a.port, a.sock, a.arrival, a.at, a.t0).then(settled[cls], failed[cls]);
    }
    if (!draining && takeable() !== null) draining = setImmediate(drain);
  };
  // One settle callback per datagram (no catch/finally promise chain): a handler settles once.
  const handled = (cls: AdmissionClass): void => {
    inflightOf[cls]--;
    inflight--;
    if (inflight === 0) whenIdle?.();
    if (queue.size > 0 && !draining && !stopping.signal.aborted) draining = setImmediate(drain);
  };
  const handlerBug = (err: unknown, cls: AdmissionClass): void => {
    log.error({ err: (err as Error).message }, 'dhcp: handler bug');
    handled(cls);
  };
  // Built once per class: no closure per datagram.
  const settled: Record<AdmissionClass, () => void> = {
    complete: () => handled('complete'),
    new: () => handled('new'),
  };
  const failed: Record<AdmissionClass, (err: unknown) => void> = {
    complete: (err) => handlerBug(err, 'complete'),
    new: (err) => handlerBug(err, 'new'),
  };

  const handle = async (
    bytes: Uint8Array,
    from: UdpPeer,
    port: 'dhcp' | 'pxe',
    sock: DatagramSocket,
    arrival: string | undefined,
    at: number,
    t0: number,
  ): Promise<void> => {
    const tTaken = timing ? performance.now() : 0;
    let tDecided = 0;
    let req: DhcpPacket;
    try {
      req = decodeDhcp(bytes);
    } catch (err) {
      // STYLE F26: malformed input is logged at debug and dropped; only socket errors end the loop.
      if (!(err instanceof DecodeError)) throw err;
      stats.malformed++;
      log.debug(
        { from: from.address, code: err.code, offset: err.offset, field: err.field },
        'dhcp: malformed packet dropped',
      );
      return;
    }
    // The client is its MAC (chaddr), never its client identifier (option 61). RFC 2131 §4.2: the server MUST use
    // the identifier when one is sent; but one machine sends none from its PXE ROM and iPXE and a DUID from
    // systemd-networkd, which would give each stage of one boot its own lease (docs/dhcp.md "A known host keeps its address").
    const mac = macOf(req);
    // Built only for a log line: most requests log nothing.
    const fields = () => ({ mac, xid: req.xid, port, giaddr: req.giaddr, interface: arrival });
    try {
      const messageType = getMessageType(req);
      const subnet = selectSubnet(req.giaddr, subnets, arrival);
      if (messageType === undefined || !subnet) {
        stats.ignored++;
        log.debug(
          fields(),
          messageType === undefined ? 'dhcp: BOOTP without option 53 ignored' : 'dhcp: no subnet for request',
        );
        return;
      }
      const host = subnet.mode === 'off' ? null : await backend.findHostByMac(mac);
      if (!host && subnet.mode !== 'off' && backend.onUnknownMac?.(mac, { subnet: subnet.cidr }) === false) {
        stats.ignored++;
        log.debug(fields(), 'dhcp: unknown MAC refused by the discovery policy');
        return;
      }
      if (messageType === DhcpMessageType.release || messageType === DhcpMessageType.decline)
        await afterSideEffects(req, messageType, mac, subnet);
      const dead = messageType === DhcpMessageType.request ? opts.deadMembers?.() : undefined;
      // A REQUEST for a dead member: its offer came first, so this server's own offers to other MACs do not count.
      const forDead = dead !== undefined && takeoverOf(req, dead) !== undefined;
      const address = await addressFor(req, messageType, mac, subnet, host, forDead);
      const d = decideDhcp({
        request: req,
        messageType,
        port,
        from,
        subnet,
        address,
        knownHost: host !== null,
        hostname: host?.hostname,
        serverAddress: subnet.serverAddress ?? config.serverAddress,
        httpBase: subnet.httpBase ?? config.httpBase,
        bootFiles: config.bootFiles,
        logServer: opts.logServer,
        deadMembers: dead,
      });
      if (d.action === 'ignore') {
        stats.ignored++;
        log.debug({ ...fields(), reason: d.reason }, 'dhcp: request ignored');
        return;
      }
      if (timing) tDecided = performance.now();
      if (d.bind) {
        const ok = await writer.put({
          ip: d.bind.ip,
          mac,
          subnet: subnet.cidr,
          // From the request's arrival, not now: a REQUEST that waited longer than its client's later one loses to it.
          expiresAt: at + d.bind.leaseSeconds * 1000,
          hostname: host?.hostname,
          state: 'bound',
        });
        if (ok === 'conflict') {
          // Another controller bound the address between offer and request, or this client was bound to another
          // address by a later request (this one waited: lease-upsert.ts): NAK, a client still waiting restarts at DISCOVER.
          log.info(
            { ...fields(), ip: d.bind.ip },
            'dhcp: address taken by another MAC, or this MAC was bound elsewhere by a later request; NAK',
          );
          d.packet.yiaddr = '0.0.0.0';
          d.packet.options = [d.packet.options[0], d.packet.options[1]];
          d.packet.options[0] = { code: DhcpOption.messageType, data: Uint8Array.of(DhcpMessageType.nak) };
          d.packet.file = '';
          d.packet.siaddr = '0.0.0.0';
        } else {
          allocator.release(d.bind.ip);
          log.info({ ...fields(), ip: d.bind.ip, hostId: host?.hostId }, 'dhcp: lease bound');
        }
      }
      sock.send(encodeDhcp(d.packet, replyBytes), d.to);
      stats.replied++;
      if (d.takeover) {
        stats.takenOver++;
        const acked = d.packet.yiaddr !== '0.0.0.0';
        log.info(
          {
            ...fields(),
            ip: acked ? d.packet.yiaddr : undefined,
            member: d.takeover.name,
            memberId: d.takeover.id,
            serverId: getIpOption(d.packet, DhcpOption.serverIdentifier),
            why: d.takeover.why,
          },
          `dhcp: answered a REQUEST for dead member ${d.takeover.name} (${acked ? 'ACK' : 'NAK'})`,
        );
      }
      if (timing) {
        const t = performance.now();
        timing({
          messageType,
          receivedAt: t0,
          queuedMs: tTaken - t0,
          decidedMs: tDecided - tTaken,
          committedMs: d.bind ? t - tDecided : 0,
          totalMs: t - t0,
        });
      }
      opts.onReply?.({ mac, request: req, reply: d.packet });
    } catch (err) {
      // A store or backend failure loses this one request; the client retransmits.
      stats.failed++;
      log.warn({ ...fields(), err: (err as Error).message }, 'dhcp: request failed');
    }
  };

  async function afterSideEffects(req: DhcpPacket, type: number, mac: string, subnet: DhcpSubnet): Promise<void> {
    if (subnet.mode === 'off' || subnet.mode === 'proxy') return;
    // RFC 2131 §4.3.4: RELEASE frees the client's address. The store keeps the row as the client's previous
    // binding, which the allocator offers it again (systemd-networkd releases at every shutdown).
    if (type === DhcpMessageType.release && req.ciaddr !== '0.0.0.0') {
      await leases.release(req.ciaddr, mac, now());
      log.info({ mac, ip: req.ciaddr }, 'dhcp: RELEASE: the lease of this MAC on this address (if any) ends now');
    }
    // RFC 2131 §4.3.3: DECLINE marks the address as in use elsewhere; keep it out of the pool for one lease time.
    // Only from the client the address was offered or bound to: otherwise any client could take any address
    // (a reservation, the whole pool) out of service by declining it (found by dhcp-server.fuzz.test.ts).
    const declined = getIpOption(req, DhcpOption.requestedIpAddress);
    if (type === DhcpMessageType.decline && declined) {
      if (!(await allocator.isClientOf(declined, mac))) {
        log.info({ mac, ip: declined }, 'dhcp: DECLINE ignored: the address was not offered or bound to this client');
        return;
      }
      await writer.put({
        ip: declined,
        mac,
        subnet: subnet.cidr,
        expiresAt: now() + subnet.leaseSeconds * 1000,
        state: 'declined',
      });
    }
  }

  async function addressFor(
    req: DhcpPacket,
    type: number,
    mac: string,
    subnet: DhcpSubnet,
    host: DhcpHost | null,
    overHolds: boolean,
  ): Promise<string | undefined> {
    if (type !== DhcpMessageType.discover && type !== DhcpMessageType.request) return undefined;
    if (subnet.mode !== 'full' && subnet.mode !== 'reservation') return undefined;
    const requested =
      getIpOption(req, DhcpOption.requestedIpAddress) ?? (req.ciaddr !== '0.0.0.0' ? req.ciaddr : undefined);
    return allocator.choose({
      mac,
      subnet,
      reservedIp: host?.reservedIp,
      requested,
      poolAllowed: subnet.mode === 'full',
      hold: type === DhcpMessageType.discover,
      overHolds,
    });
  }

  // Each datagram is only classified (option 53, no decode) and queued here; `drain` handles it.
  const listen = ({ socket: sock, interface: arrival }: DhcpListener, port: 'dhcp' | 'pxe') =>
    sock.receive((bytes, from) => {
      if (stopping.signal.aborted) return;
      stats.received++;
      const cls = admissionClassOf(peekMessageType(bytes));
      const t = now();
      const out = queue.push(
        { bytes, from, port, sock, arrival, at: t, t0: timing ? performance.now() : 0, cls },
        cls,
        t,
      );
      if (out) shed(out.cls, 'full');
      if (!draining) draining = setImmediate(drain);
    });
  const short = [...dhcpSocks, ...pxeSocks].find(
    (l) => l.recvBufferBytes !== undefined && l.recvBufferBytes < recvBufferBytes,
  );
  if (short) {
    log.warn(
      { wantedBytes: recvBufferBytes, grantedBytes: short.recvBufferBytes },
      `dhcp: the kernel granted a smaller receive buffer than dhcp.receiveBufferKiB (SO_RCVBUFFORCE needs CAP_NET_ADMIN and the native addon); a boot storm's burst may be dropped. Run as root, or raise the cap: sysctl -w net.core.rmem_max=${recvBufferBytes}`,
    );
  }
  for (const l of dhcpSocks) listen(l, 'dhcp');
  for (const l of pxeSocks) listen(l, 'pxe');
  // Device-bound sockets of real binds: the index each was bound to, checked every deviceCheckMs.
  const ifindexOf = opts.ifindexOf ?? sysIfindex;
  const boundIndex = new Map<string, number | null>();
  const watching = !opts.sockets || opts.bindListener !== undefined;
  if (watching)
    for (const l of [...dhcpSocks, ...pxeSocks]) if (l.interface) boundIndex.set(l.interface, ifindexOf(l.interface));
  const reopening = new Set<string>();
  const deviceTimer =
    watching && (opts.deviceCheckMs ?? 2000) > 0 && boundIndex.size > 0
      ? setInterval(() => {
          for (const [dev, index] of boundIndex) {
            if (reopening.has(dev)) continue;
            let now: number | null;
            try {
              now = ifindexOf(dev);
            } catch (err) {
              log.warn(
                { dev, err: (err as Error).message },
                'dhcp: could not read the device index; checking again at the next tick',
              );
              continue;
            }
            if (now === index) continue;
            const err = Object.assign(
              new Error(
                now === null ? `device ${dev} is gone` : `device ${dev} was re-created (index ${index} -> ${now})`,
              ),
              { code: 'ENODEV' },
            );
            for (const port of [ports.dhcp, ...(pxeSocks.length ? [ports.pxe] : [])]) void reopen(port, dev, err);
          }
        }, opts.deviceCheckMs ?? 2000)
      : undefined;
  deviceTimer?.unref();
  log.info(
    {
      port: ports.dhcp,
      pxe: pxeSocks.length ? ports.pxe : undefined,
      interfaces: dhcpSocks.map((l) => l.interface ?? '*'),
      subnets: subnets.map((s) => `${s.cidr}:${s.mode}${s.interface ? `@${s.interface}` : s.relayed ? '@relay' : ''}`),
    },
    'dhcp: serving',
  );

  /** A socket died: close it, re-open it with back-off in its slot; when that fails, report on the fatal channel. */
  async function reopen(port: number, dev: string | undefined, cause: NodeJS.ErrnoException): Promise<void> {
    const list = port === ports.dhcp ? dhcpSocks : pxeSocks;
    const i = list.findIndex((l) => l.interface === dev);
    if (i < 0 || stopping.signal.aborted) return;
    const kind = port === ports.dhcp ? 'dhcp' : 'pxe';
    const key = `${dev}:${port}`;
    if (reopening.has(key)) return;
    reopening.add(key);
    if (dev) reopening.add(dev);
    list[i].socket.close();
    log.error(
      { interface: dev ?? '*', port, errno: cause.code, err: cause.message },
      `dhcp: the socket on ${dev ?? '*'}:${port} died (${cause.code}); re-opening`,
    );
    try {
      const fresh = await reopenWithBackoff(() => bindOne(bindOpts(port), dev, dev !== undefined || list.length > 1), {
        delaysMs: opts.reopenDelaysMs,
        signal: stopping.signal,
        onAttemptFailed: (err, attempt) =>
          log.warn(
            { interface: dev ?? '*', port, attempt, err: (err as Error).message },
            'dhcp: re-opening the socket failed; retrying',
          ),
      });
      if (!fresh) return;
      list[i] = fresh;
      if (dev) boundIndex.set(dev, ifindexOf(dev));
      listen(fresh, kind);
      log.warn({ interface: dev ?? '*', port }, 'dhcp: socket re-opened');
      opts.onSocketEvent?.({ kind: 'reopened', interface: dev, port, error: `${cause.code}: ${cause.message}` });
    } catch (err) {
      const msg = (err as Error).message;
      opts.onSocketEvent?.({ kind: 'failed', interface: dev, port, error: msg });
      const fatal = new KilnError(
        'config_invalid',
        `dhcp: the socket on ${dev ?? 'all interfaces'} port ${port} died (${cause.code}) and could not be re-opened: ${msg}; check the interface${dev ? ` ${dev}` : ''} (dhcp.subnets[].interface) and start Kiln again`,
        { cause: err },
      );
      log.error({ interface: dev ?? '*', port, err: msg }, fatal.message);
      if (dev) boundIndex.delete(dev); // reported once; the controller stops
      opts.onFatal?.(fatal);
    } finally {
      reopening.delete(key);
      if (dev && ![...reopening].some((k) => k.startsWith(`${dev}:`))) reopening.delete(dev);
    }
  }

  let closing: Promise<void> | undefined;
  const close = () =>
    (closing ??= (async () => {
      stopping.abort();
      if (deviceTimer) clearInterval(deviceTimer);
      for (const l of [...dhcpSocks, ...pxeSocks]) l.socket.close();
      // Queued datagrams cannot be answered with the sockets closed: each is shed (as expired, since every age is past Infinity).
      if (draining) clearImmediate(draining);
      draining = undefined;
      queue.take(Number.POSITIVE_INFINITY);
      if (inflight > 0) await new Promise<void>((r) => (whenIdle = r));
      await writer.drain();
      await leases.close();
      logShed();
    })());
  opts.signal?.addEventListener('abort', () => void close(), { once: true });
  const listeners = [
    ...dhcpSocks.map((l) => ({ interface: l.interface, port: ports.dhcp })),
    ...pxeSocks.map((l) => ({ interface: l.interface, port: ports.pxe })),
  ];
  return {
    close,
    stats,
    listeners,
    get queued() {
      return queue.size;
    },
  };
}

/**
 * The DHCP server's thread (started by dhcp-worker-server.ts): runs
 * `startDhcpServer` unchanged on an event loop of its own, so HTTP boot-file
 * serving on the main thread cannot delay reading port 67 (docs/dhcp.md,
 * "Own thread"). It opens its own database connections: the host-by-MAC
 * reader (SQLite: the read-only WAL reader; PostgreSQL: a small pool) and the
 * lease store (SQLite: its group commits on the lease worker this thread
 * starts, as on the main thread). Nothing it answers waits for the main
 * thread: unknown MACs, replies, socket trouble and log lines are posted.
 * Messages: dhcp-worker-protocol.ts.
 */
import { parentPort, workerData } from 'node:worker_threads';
import { KilnError } from '../../error/kiln-error.js';
import { forwardLogger } from '../../log/forward-logger.js';
import { openSqliteFileHostByMacReader, sqlHostByMacReader } from '../../inventory/host-by-mac-reader.js';
import { parseMac } from '../../net/mac.js';
import { getMessageType } from '../../protocols/dhcp4/options.js';
import { DhcpMessageType } from '../../protocols/dhcp4/codes.js';
import type { DhcpPacket } from '../../protocols/dhcp4/packet.js';
import { openDatabase, openSqlite, type OpenDatabase } from '../../store/database.js';
import { staticAdmission } from '../discovery-policy.js';
import { dhcpHostLookup } from './dhcp-host-lookup.js';
import { startDhcpServer, type DhcpServer } from './dhcp-server.js';
import {
  DHCP_WORKER_STATS,
  type DhcpWorkerData,
  type DhcpWorkerReply,
  type DhcpWorkerRequest,
} from './dhcp-worker-protocol.js';
import { createSqlLeaseStore } from './sql-lease-store.js';
import { createSqliteLeaseStore } from './sqlite-lease-store.js';
import { createUnknownMacGate } from './unknown-mac-gate.js';
import { watchMembers } from './member-watch.js';

/** How often the counters are copied to the shared array (ms): /metrics lags the server by at most this. */
const STATS_EVERY_MS = 100;
/** How often socket error counts are sent to the main thread's metrics (ms). */
const SOCKET_ERRORS_EVERY_MS = 1000;
/** PostgreSQL connections of this thread's pool. */
const PG_CONNECTIONS = 4;

const port = parentPort!;
const data = workerData as DhcpWorkerData;
const post = (m: DhcpWorkerReply): void => port.postMessage(m);
const log = forwardLogger((line) => post({ type: 'log', ...line }));

/** A packet with buffers of its own: a decoded request's fields view the whole datagram, which a clone would copy each time. */
const detach = (p: DhcpPacket): DhcpPacket => ({
  ...p,
  chaddr: p.chaddr.slice(),
  options: p.options.map((o) => ({ code: o.code, data: o.data.slice() })),
});

function openStore(): Promise<OpenDatabase> {
  const s = data.store;
  if (s.kind === 'sqlite') return Promise.resolve(openSqlite(s.file));
  return openDatabase({ dataDir: '', databaseUrl: s.url, log, maxConnections: PG_CONNECTIONS });
}

async function start(): Promise<void> {
  const store = await openStore();
  const reader =
    data.store.kind === 'sqlite' ? openSqliteFileHostByMacReader(data.store.file) : sqlHostByMacReader(store.db);
  const leases = store.sqlite
    ? createSqliteLeaseStore(store.db, store.sqlite)
    : createSqlLeaseStore(store.db, {
        postgres: {
          url: data.store.kind === 'postgres' ? data.store.url : undefined,
          log: log.child({ domain: 'dhcp' }),
        },
      });
  const gate = createUnknownMacGate({
    admits: staticAdmission(data.discovery),
    ask: (mac, subnet) => post({ type: 'unknownMac', mac, subnet }),
    now: Date.now,
  });
  // Opened before the sockets: this member's DHCP session is in the store before it makes its first offer.
  const watch =
    data.store.kind === 'postgres' && data.member
      ? watchMembers({
          url: data.store.url,
          memberId: data.member.memberId,
          ownServerIds: data.member.ownServerIds,
          staleMs: data.member.staleMs,
          log: log.child({ domain: 'dhcp' }),
        })
      : undefined;
  const socketErrors = new Map<string, { op: 'send' | 'receive'; errno: string; n: number }>();
  const flushSocketErrors = (): void => {
    if (socketErrors.size === 0) return;
    post({ type: 'socketErrors', counts: [...socketErrors.values()] });
    socketErrors.clear();
  };
  let server: DhcpServer;
  try {
    server = await startDhcpServer({
      config: data.config,
      backend: {
        findHostByMac: dhcpHostLookup(reader.lookup),
        onUnknownMac(mac, info) {
          const m = parseMac(mac);
          if (m && !gate.check(m, info.subnet)) return false;
        },
      },
      leases,
      log: log.child({ domain: 'dhcp' }),
      localAddresses: () => data.local,
      logServer: data.logServer,
      ...(data.ports ? { ports: data.ports } : {}),
      ...(watch ? { deadMembers: () => watch.dead() } : {}),
      countSocketError: (_server, op, errno) => {
        const key = `${op} ${errno}`;
        const c = socketErrors.get(key);
        if (c) c.n++;
        else socketErrors.set(key, { op, errno, n: 1 });
      },
      onSocketEvent: (event) => post({ type: 'socketEvent', event }),
      onFatal: (err) => post({ type: 'fatal', code: err.code, message: err.message }),
      onReply: data.observeReplies
        ? (e) => {
            // The timeline keeps offers and ACKs only (src/timeline/dhcp-observation.ts).
            const t = getMessageType(e.reply);
            if (t === DhcpMessageType.offer || t === DhcpMessageType.ack)
              post({ type: 'reply', mac: e.mac, request: detach(e.request), reply: detach(e.reply) });
          }
        : undefined,
    });
  } catch (err) {
    await watch?.close();
    reader.close();
    await store.close();
    throw err;
  }

  const stats = new Float64Array(data.stats);
  const copyStats = (): void => {
    const s = server.stats;
    for (let i = 0; i < DHCP_WORKER_STATS.length - 1; i++) stats[i] = s[DHCP_WORKER_STATS[i] as keyof typeof s];
    stats[DHCP_WORKER_STATS.length - 1] = server.queued;
  };
  const statsTimer = setInterval(copyStats, STATS_EVERY_MS);
  const errorsTimer = setInterval(flushSocketErrors, SOCKET_ERRORS_EVERY_MS);

  let closing = false;
  port.on('message', (m: DhcpWorkerRequest) => {
    if (m.type === 'verdict') {
      const mac = parseMac(m.mac);
      if (mac) gate.verdict(mac, m.ok);
      return;
    }
    if (closing) return;
    closing = true;
    void (async () => {
      try {
        await server.close();
        await watch?.close();
        reader.close();
        await store.close();
      } catch (err) {
        log.warn({ err: (err as Error).message }, 'dhcp: error while stopping the DHCP thread');
      }
      clearInterval(statsTimer);
      clearInterval(errorsTimer);
      copyStats();
      flushSocketErrors();
      post({ type: 'closed' });
    })();
  });
  post({ type: 'ready', listeners: [...server.listeners] });
}

start().catch((err: unknown) => {
  const e = err instanceof KilnError ? err : null;
  post({
    type: 'startFailed',
    code: e?.code ?? 'internal',
    message: e?.message ?? `dhcp: the DHCP thread could not start: ${(err as Error)?.message ?? String(err)}`,
  });
});

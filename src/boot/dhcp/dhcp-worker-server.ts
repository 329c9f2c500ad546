/**
 * The main thread's side of the DHCP worker (dhcp-worker.ts): starts it,
 * turns what it posts into the same callbacks `startDhcpServer` takes, and
 * returns the same `DhcpServer`, so network-servers.ts treats both alike.
 * The counters are read from memory shared with the worker (no message per
 * request); unknown MACs come in as messages and the discovery policy's
 * verdict goes back, never awaited by an answer.
 */
import { KilnError } from '../../error/kiln-error.js';
import { silentLogger, type Logger } from '../../log/logger.js';
import type { DhcpPacket } from '../../protocols/dhcp4/packet.js';
import { startModuleWorker } from '../../runtime/module-worker.js';
import type { DiscoverySettings } from '../discovery-policy.js';
import type { DhcpConfig } from './dhcp-config.js';
import type { LocalAddress } from './dhcp-listeners.js';
import type { DhcpServer } from './dhcp-server.js';
import {
  DHCP_WORKER_STATS,
  type DhcpSocketEvent,
  type DhcpWorkerData,
  type DhcpWorkerMember,
  type DhcpWorkerReply,
  type DhcpWorkerRequest,
  type DhcpWorkerStore,
} from './dhcp-worker-protocol.js';

/** How long the worker may take to open its store and bind its sockets. */
const START_TIMEOUT_MS = 30_000;
/** How long `close()` waits for the worker's pending lease commits before it stops the thread anyway. */
const CLOSE_TIMEOUT_MS = 15_000;

/** What `startDhcpWorker` needs: `startDhcpServer`'s options that cross a thread, and the main thread's callbacks. */
export interface DhcpWorkerOptions {
  /** The `dhcp:` slice, each attached subnet's interface already resolved. */
  config: DhcpConfig;
  /** This machine's IPv4 addresses (read once on the main thread). */
  local: LocalAddress[];
  store: DhcpWorkerStore;
  /** The discovery settings the worker decides alone (mode, allow list); the rest stays with `onUnknownMac`. */
  discovery: Pick<DiscoverySettings, 'mode' | 'allow'>;
  log?: Logger;
  signal?: AbortSignal;
  logServer?: boolean;
  /** Tests only: other ports than 67 and 4011. */
  ports?: { dhcp: number; pxe: number };
  /** This member, to answer REQUESTs for dead members of the store (PostgreSQL only; member-takeover.ts). */
  member?: DhcpWorkerMember;
  /** The discovery policy and enrolment of an unknown MAC (`dhcpBackendOf`): false refuses it. Called on this thread. */
  onUnknownMac(mac: string, info: { subnet: string }): boolean | void;
  countSocketError?: (server: string, op: 'send' | 'receive', errno: string) => void;
  onSocketEvent?: (e: DhcpSocketEvent) => void;
  onFatal?: (err: KilnError) => void;
  onReply?: (e: { mac: string; request: DhcpPacket; reply: DhcpPacket }) => void;
}

/**
 * Starts the DHCP server on a worker thread; resolves once its sockets are
 * bound, rejects with its start-up error (the same KilnError code and text
 * as `startDhcpServer`'s). A worker that dies later is reported on `onFatal`.
 */
export async function startDhcpWorker(opts: DhcpWorkerOptions): Promise<DhcpServer> {
  const log = opts.log ?? silentLogger;
  const shared = new SharedArrayBuffer(DHCP_WORKER_STATS.length * Float64Array.BYTES_PER_ELEMENT);
  const counters = new Float64Array(shared);
  const workerData: DhcpWorkerData = {
    config: opts.config,
    local: opts.local,
    store: opts.store,
    discovery: { mode: opts.discovery.mode, allow: [...opts.discovery.allow] },
    logServer: opts.logServer ?? false,
    observeReplies: opts.onReply !== undefined,
    stats: shared,
    ports: opts.ports,
    member: opts.member,
  };
  const worker = startModuleWorker(import.meta.url, 'dhcp-worker', { workerData });
  const post = (m: DhcpWorkerRequest): void => worker.postMessage(m);
  let closing: Promise<void> | undefined;
  let started = false;
  let exited = false;
  let onClosed = (): void => {};

  const listeners = await new Promise<DhcpServer['listeners']>((resolve, reject) => {
    const timer = setTimeout(
      () => reject(new KilnError('internal', `dhcp: the DHCP thread did not start within ${START_TIMEOUT_MS} ms`)),
      START_TIMEOUT_MS,
    );
    worker.on('message', (m: DhcpWorkerReply) => {
      switch (m.type) {
        case 'ready':
          clearTimeout(timer);
          started = true;
          resolve(m.listeners);
          return;
        case 'startFailed':
          clearTimeout(timer);
          reject(new KilnError(m.code, m.message));
          return;
        case 'log':
          log[m.level](m.obj, m.msg);
          return;
        case 'unknownMac': {
          const ok = opts.onUnknownMac(m.mac, { subnet: m.subnet }) !== false;
          post({ type: 'verdict', mac: m.mac, ok });
          return;
        }
        case 'reply':
          opts.onReply?.(m);
          return;
        case 'socketErrors':
          for (const c of m.counts) for (let i = 0; i < c.n; i++) opts.countSocketError?.('dhcp', c.op, c.errno);
          return;
        case 'socketEvent':
          opts.onSocketEvent?.(m.event);
          return;
        case 'fatal':
          opts.onFatal?.(new KilnError(m.code, m.message));
          return;
        case 'closed':
          onClosed();
          return;
      }
    });
    worker.on('error', (err) => {
      log.error({ err: err.message }, 'dhcp: the DHCP thread failed');
      if (!started) {
        clearTimeout(timer);
        reject(new KilnError('internal', `dhcp: the DHCP thread failed to start: ${err.message}`, { cause: err }));
      }
    });
    worker.on('exit', (code) => {
      exited = true;
      clearTimeout(timer);
      onClosed();
      if (!started) reject(new KilnError('internal', `dhcp: the DHCP thread exited with code ${code} while starting`));
      else if (!closing)
        opts.onFatal?.(
          new KilnError(
            'internal',
            `dhcp: the DHCP thread stopped (exit code ${code}); DHCP is not served; the controller stops (see the log line before)`,
          ),
        );
    });
  }).catch(async (err: unknown) => {
    await worker.terminate();
    throw err;
  });

  const close = (): Promise<void> =>
    (closing ??= (async () => {
      if (exited) return;
      const closed = new Promise<void>((resolve) => {
        onClosed = resolve;
        const t = setTimeout(() => {
          log.warn({ timeoutMs: CLOSE_TIMEOUT_MS }, 'dhcp: the DHCP thread did not stop in time; stopping it');
          resolve();
        }, CLOSE_TIMEOUT_MS);
        t.unref();
      });
      post({ type: 'close' });
      await closed;
      await worker.terminate();
    })());
  opts.signal?.addEventListener('abort', () => void close(), { once: true });

  const at = (name: (typeof DHCP_WORKER_STATS)[number]): number => counters[DHCP_WORKER_STATS.indexOf(name)];
  return {
    close,
    stats: {
      get received() {
        return at('received');
      },
      get replied() {
        return at('replied');
      },
      get ignored() {
        return at('ignored');
      },
      get malformed() {
        return at('malformed');
      },
      get failed() {
        return at('failed');
      },
      get shed() {
        return at('shed');
      },
      get takenOver() {
        return at('takenOver');
      },
    },
    get queued() {
      return at('queued');
    },
    listeners,
  };
}

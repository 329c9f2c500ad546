// The in-memory fakes of datagram-socket.ts for unit tests: a lone socket
// whose sends are recorded (a server's listen socket, driven by `inject`),
// and a network of sockets that reach each other (client and server ends).
import type { DatagramSocket, DatagramSocketFactory, UdpPeer } from './datagram-socket.js';

/** One end with no network behind it: `sent` records every datagram this end sent. */
export interface MemorySocket extends DatagramSocket {
  sent: Array<{ bytes: Uint8Array; to: UdpPeer }>;
  /** Delivers a datagram to this end's handler, synchronously, as if it came from `from`. */
  inject(bytes: Uint8Array, from: UdpPeer): void;
}

/** A lone in-memory socket bound to `local`: replies land in `sent` (copied); requests go in with `inject`. */
export function createMemorySocket(local: UdpPeer = { address: '0.0.0.0', port: 0 }): MemorySocket {
  let handler: ((b: Uint8Array, f: UdpPeer) => void) | undefined;
  let closed = false;
  const sent: MemorySocket['sent'] = [];
  return {
    local,
    sent,
    send(bytes, to) {
      if (!closed) sent.push({ bytes: bytes.slice(), to });
    },
    receive(h) {
      handler = h;
    },
    close() {
      closed = true;
    },
    inject(bytes, from) {
      if (!closed) handler?.(bytes, from);
    },
  };
}

/** An in-memory datagram network for unit tests: every socket bound through `bind` can reach every other. */
export interface MemoryNetwork {
  bind: DatagramSocketFactory;
  /** Sockets currently open, keyed "address:port"; a test asserts it drains to the expected set. */
  readonly open: ReadonlySet<string>;
  /** When set, a datagram for which it returns true is silently dropped (loss injection). */
  drop: ((bytes: Uint8Array, from: UdpPeer, to: UdpPeer) => boolean) | null;
  /** Datagrams delivered so far (not counting drops). */
  readonly delivered: number;
}

/**
 * Creates an empty in-memory network. Delivery is asynchronous (next
 * macrotask) and in order; ephemeral ports start at 40000. `connectTo` is
 * accepted and ignored: foreign datagrams still arrive, so a transfer's
 * unknown-TID path stays testable.
 */
export function createMemoryNetwork(): MemoryNetwork {
  const handlers = new Map<string, ((bytes: Uint8Array, from: UdpPeer) => void) | null>();
  let nextPort = 40000;
  let delivered = 0;
  const net: MemoryNetwork = {
    open: handlers as unknown as ReadonlySet<string>,
    drop: null,
    get delivered() {
      return delivered;
    },
    async bind(bind) {
      const port = bind.port === 0 ? nextPort++ : bind.port;
      const key = `${bind.address}:${port}`;
      if (handlers.has(key)) throw Object.assign(new Error(`address in use ${key}`), { code: 'EADDRINUSE' });
      handlers.set(key, null);
      const local = { address: bind.address, port };
      let closed = false;
      const sock: DatagramSocket = {
        local,
        send(bytes, to) {
          if (closed) return;
          const copy = bytes.slice();
          setImmediate(() => {
            if (net.drop?.(copy, local, to)) return;
            const h = handlers.get(`${to.address}:${to.port}`);
            if (h) {
              delivered++;
              h(copy, local);
            }
          });
        },
        receive(handler) {
          if (!closed) handlers.set(key, handler);
        },
        close() {
          closed = true;
          handlers.delete(key);
        },
      };
      return sock;
    },
  };
  Object.defineProperty(net, 'open', { get: () => new Set(handlers.keys()) });
  return net;
}

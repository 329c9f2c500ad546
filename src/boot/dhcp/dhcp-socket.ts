import { createSocket, type Socket } from 'node:dgram';

/** A UDP endpoint: IPv4 address and port. */
export interface UdpPeer {
  address: string;
  port: number;
}

/**
 * A bound UDP socket, small enough to fake. `send` is fire-and-forget (a lost
 * reply is covered by the client's retransmission, RFC 2131 §4.1); `receive`
 * sets the one handler. `close` is idempotent; no handler call follows it.
 */
export interface DatagramSocket {
  send(bytes: Uint8Array, to: UdpPeer): void;
  receive(handler: (bytes: Uint8Array, from: UdpPeer) => void): void;
  close(): void;
}

/** Where a socket reports trouble: every send or receive error (with its errno), and its death (closed by the OS, or an errno that means the socket or its device is gone). */
export interface SocketTrouble {
  onError?: (err: NodeJS.ErrnoException, op: 'send' | 'receive') => void;
  onDeath?: (err: NodeJS.ErrnoException) => void;
}

/** Errnos after which a socket will not work again as it is: its descriptor or bound device is gone. It must be re-opened. */
export const DEAD_SOCKET_ERRNOS: ReadonlySet<string> = new Set([
  'ENODEV',
  'ENXIO',
  'EBADF',
  'ENOTSOCK',
  'ERR_SOCKET_DGRAM_NOT_RUNNING',
]);

/**
 * Binds a real UDP socket with SO_BROADCAST (needed to send to
 * 255.255.255.255). Linux sends a limited broadcast out of the interface its
 * route table picks for 255.255.255.255: see docs/dhcp.md "Interfaces".
 * `reuseAddr` lets per-interface sockets share the port; `onBound` runs
 * synchronously after bind, before Node reads (a throw closes the socket).
 */
export async function bindDhcpSocket(
  address: string,
  port: number,
  opts: { reuseAddr?: boolean; onBound?: (sock: Socket) => void; recvBufferBytes?: number } & SocketTrouble = {},
): Promise<DatagramSocket & { recvBufferBytes: number }> {
  const sock = createSocket({ type: 'udp4', reuseAddr: opts.reuseAddr ?? false });
  await new Promise<void>((resolve, reject) => {
    sock.once('error', reject);
    sock.bind(port, address, () => {
      sock.off('error', reject);
      try {
        opts.onBound?.(sock);
        resolve();
      } catch (err) {
        sock.close();
        reject(err);
      }
    });
  });
  sock.setBroadcast(true);
  // A boot storm arrives as one burst (a rack powered on together): the default receive buffer (~200 KiB,
  // a few hundred datagrams) drops the tail before the loop reads it, and the PXE ROMs' retransmissions
  // (4, 8, 16, 32 s, all in step) meet the same full buffer again (docs/dhcp.md, "Receive buffer").
  // The kernel caps the size at net.core.rmem_max; the caller compares what it got.
  // Too large for net.core.rmem_max: the kernel default stays, and the caller compares the granted size and warns.
  if (opts.recvBufferBytes) {
    try {
      sock.setRecvBufferSize(opts.recvBufferBytes);
    } catch (err) {
      opts.onError?.(err as NodeJS.ErrnoException, 'receive');
    }
  }
  let closed = false;
  let dead = false;
  const die = (err: NodeJS.ErrnoException) => {
    if (closed || dead) return;
    dead = true;
    opts.onDeath?.(err);
  };
  // Errors after bind (ICMP unreachable, ENOBUFS, ENETUNREACH) must not crash the process: each is reported
  // (the server logs it, rate-limited, and counts it); the client's retransmission covers the lost datagram.
  const report = (err: Error | null, op: 'send' | 'receive') => {
    if (!err || closed) return;
    const e = err as NodeJS.ErrnoException;
    opts.onError?.(e, op);
    if (e.code && DEAD_SOCKET_ERRNOS.has(e.code)) die(e);
  };
  sock.on('error', (err) => report(err, 'receive'));
  let gone = false;
  sock.on('close', () => {
    gone = true;
    if (!closed) die(Object.assign(new Error('socket closed by the system'), { code: 'ECLOSED' }));
  });
  return {
    // Linux reports twice the size asked for (the bookkeeping share, socket(7)); halve it back.
    recvBufferBytes: Math.floor(sock.getRecvBufferSize() / 2),
    send(bytes, to) {
      if (closed) return;
      try {
        sock.send(bytes, to.port, to.address, (err) => report(err, 'send'));
      } catch (err) {
        report(err as Error, 'send');
      }
    },
    receive(handler) {
      sock.removeAllListeners('message');
      sock.on('message', (msg, r) => {
        if (!closed)
          handler(new Uint8Array(msg.buffer, msg.byteOffset, msg.byteLength), { address: r.address, port: r.port });
      });
    },
    close() {
      if (!closed) {
        closed = true;
        if (!gone) sock.close();
      }
    },
  };
}

/** One end of an in-memory socket pair: `sent` records every datagram this end sent. */
export interface MemorySocket extends DatagramSocket {
  sent: Array<{ bytes: Uint8Array; to: UdpPeer }>;
  /** Delivers a datagram to this end's handler as if it came from `from`. */
  inject(bytes: Uint8Array, from: UdpPeer): void;
}

/** An in-memory socket for tests: replies land in `sent`; requests go in with `inject`. */
export function createMemorySocket(): MemorySocket {
  let handler: ((b: Uint8Array, f: UdpPeer) => void) | undefined;
  let closed = false;
  const sent: MemorySocket['sent'] = [];
  return {
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

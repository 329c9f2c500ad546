import { createSocket, type Socket, type SocketOptions } from 'node:dgram';
import { lookup as dnsLookup } from 'node:dns';
import { isIP, isIPv6 } from 'node:net';
import { socketFd } from './bind-to-device.js';
import {
  DEAD_SOCKET_ERRNOS,
  samePeer,
  type DatagramSocket,
  type DatagramSocketFactory,
  type SocketTrouble,
  type UdpPeer,
} from './datagram-socket.js';

/** How to bind a real UDP socket (sizes in bytes, left to the kernel default when omitted), and where its errors go. */
export interface UdpSocketOptions extends SocketTrouble {
  /** Connect to this peer: receive only from it, send only to it. */
  connectTo?: UdpPeer;
  /** SO_BROADCAST, needed to send to 255.255.255.255 (DHCP replies to clients without an address). */
  broadcast?: boolean;
  /** SO_REUSEADDR, so that sockets bound to different devices share one port. */
  reuseAddr?: boolean;
  /**
   * Runs synchronously in the bind callback, before Node reads from the
   * socket (where a device binding goes, see bind-to-device.ts). A throw
   * closes the socket and rejects the bind.
   */
  onBound?: (sock: Socket) => void;
  /**
   * The kernel caps both at net.core.{r,w}mem_max; the caller compares
   * `recvBufferBytes()`. A size the kernel refuses is reported through
   * `onError` and the default stays: tuning never stops a server.
   */
  recvBufferSize?: number;
  sendBufferSize?: number;
}

/** A real UDP socket: the descriptor and the receive buffer the kernel granted are readable. */
export interface UdpSocket extends DatagramSocket {
  fd(): number;
  /** The receive buffer the kernel granted, in bytes (Linux reports twice the size, socket(7); halved back). */
  recvBufferBytes(): number;
}

/**
 * Binds (and optionally connects) a real UDP socket, udp4 or udp6 by the
 * address. Rejects when the bind, `onBound` or the connect fails (EADDRINUSE,
 * EACCES, ENODEV). Linux sends a limited broadcast out of the interface its
 * route table picks for 255.255.255.255 unless the socket is bound to a
 * device: see docs/dhcp.md "Interfaces".
 */
export async function bindUdpSocket(bind: UdpPeer, opts: UdpSocketOptions = {}): Promise<UdpSocket> {
  const sock = createSocket({
    type: isIPv6(bind.address) ? 'udp6' : 'udp4',
    reuseAddr: opts.reuseAddr ?? false,
    lookup: literalLookup,
  });
  await new Promise<void>((resolve, reject) => {
    sock.once('error', reject);
    sock.bind(bind.port, bind.address, () => {
      sock.off('error', reject);
      try {
        opts.onBound?.(sock);
        resolve();
      } catch (err) {
        sock.close();
        reject(err instanceof Error ? err : new Error(String(err)));
      }
    });
  });
  const addr = sock.address();
  const local = { address: addr.address, port: addr.port };
  // Until `wrap` takes over, an error event is still reported (an unhandled one would end the process).
  const early = (err: Error) => opts.onError?.(err, 'receive', local);
  sock.on('error', early);
  try {
    if (opts.broadcast) sock.setBroadcast(true);
    tune(sock, opts, local);
    const to = opts.connectTo;
    if (to)
      await new Promise<void>((resolve, reject) =>
        sock.connect(to.port, to.address, (err?: Error) => (err ? reject(err) : resolve())),
      );
  } catch (err) {
    sock.close();
    throw err;
  }
  const wrapped = wrap(sock, local, opts);
  sock.off('error', early);
  return wrapped;
}

/**
 * dgram looks up every destination of `send` (dns.lookup), and even an
 * address literal then waits one process.nextTick before it leaves: one
 * more tick and closure per datagram. Kiln's servers send to addresses
 * (the peer's, a relay's, the broadcast address), which this answers at
 * once; a name still goes to dns.lookup.
 */
const literalLookup: NonNullable<SocketOptions['lookup']> = (address, options, callback) => {
  const family = isIP(address);
  if (family !== 0) callback(null, address, family);
  else dnsLookup(address, options, callback);
};

/** Sets the buffer sizes asked for; a refusal is reported and the kernel default stays. */
function tune(sock: Socket, opts: UdpSocketOptions, local: UdpPeer): void {
  // A boot storm arrives as one burst (a rack powered on together): the default receive buffer (~200 KiB,
  // a few hundred datagrams) drops the tail before the loop reads it (docs/dhcp.md, "Receive buffer").
  if (opts.recvBufferSize) {
    try {
      sock.setRecvBufferSize(opts.recvBufferSize);
    } catch (err) {
      opts.onError?.(err as NodeJS.ErrnoException, 'receive', local);
    }
  }
  if (opts.sendBufferSize) {
    try {
      sock.setSendBufferSize(opts.sendBufferSize);
    } catch (err) {
      opts.onError?.(err as NodeJS.ErrnoException, 'send', local);
    }
  }
}

function wrap(sock: Socket, local: UdpPeer, opts: UdpSocketOptions): UdpSocket {
  const connected = opts.connectTo && { address: opts.connectTo.address, port: opts.connectTo.port };
  let closed = false; // close() was called
  let gone = false; // the socket is closed, by us or by the system
  let dead = false; // death reported
  const die = (err: NodeJS.ErrnoException) => {
    if (closed || dead) return;
    dead = true;
    opts.onDeath?.(err, local);
  };
  // Errors after bind (ICMP unreachable, ENOBUFS, ENETUNREACH) must not crash the process: each is reported
  // (the server logs it, rate-limited, and counts it); the peer's or our retransmission covers the datagram.
  const report = (err: Error | null | undefined, op: 'send' | 'receive') => {
    if (!err || closed) return;
    const e = err as NodeJS.ErrnoException;
    opts.onError?.(e, op, local);
    if (e.code && DEAD_SOCKET_ERRNOS.has(e.code)) die(e);
  };
  const sent = (err: Error | null) => report(err, 'send');
  sock.on('error', (err) => report(err, 'receive'));
  sock.on('close', () => {
    gone = true;
    die(Object.assign(new Error('socket closed by the system'), { code: 'ECLOSED' }));
  });
  return {
    local,
    send(bytes, to) {
      if (closed || gone) return;
      try {
        // A connected socket can only reach its peer.
        if (connected) {
          if (samePeer(to, connected)) sock.send(bytes, sent);
        } else sock.send(bytes, to.port, to.address, sent);
      } catch (err) {
        report(err as Error, 'send');
      }
    },
    receive(handler) {
      sock.removeAllListeners('message');
      // The handler gets plain bytes (codecs never see a Buffer) and a plain peer (no rinfo extras).
      sock.on('message', (msg, r) => {
        if (!closed)
          handler(new Uint8Array(msg.buffer, msg.byteOffset, msg.byteLength), { address: r.address, port: r.port });
      });
    },
    close() {
      if (closed) return;
      closed = true;
      if (!gone) sock.close();
    },
    fd: () => socketFd(sock),
    recvBufferBytes: () => Math.floor(sock.getRecvBufferSize() / 2),
  };
}

/** A factory of real UDP sockets, all with the same options. */
export function udpSocketFactory(opts: Omit<UdpSocketOptions, 'connectTo'> = {}): DatagramSocketFactory {
  return (bind, connectTo) => bindUdpSocket(bind, connectTo ? { ...opts, connectTo } : opts);
}

import { createSocket, type Socket } from 'node:dgram';
import { isIPv6 } from 'node:net';
import { socketFd } from '../dhcp/bind-to-device.js';
import { samePeer, type DatagramSocket, type DatagramSocketFactory, type UdpPeer } from './datagram-socket.js';

/** Optional socket tuning (sizes in bytes, left to the kernel default when omitted) and where errors go. */
export interface UdpSocketOptions {
  recvBufferSize?: number;
  sendBufferSize?: number;
  /** Every send or receive error after bind, with its errno (the server logs it rate-limited and counts it). */
  onError?: (err: NodeJS.ErrnoException, op: 'send' | 'receive', local: UdpPeer) => void;
  /** The socket closed without `close()` (the system took it): it must be re-opened. */
  onDeath?: (err: NodeJS.ErrnoException, local: UdpPeer) => void;
}

function wrap(sock: Socket, connected: UdpPeer | undefined, opts: UdpSocketOptions): DatagramSocket {
  const addr = sock.address();
  const local = { address: addr.address, port: addr.port };
  let closed = false;
  // A failed send (ENOBUFS, unreachable) is reported and the TFTP sender retransmits on timeout.
  const report = (err: Error | null | undefined, op: 'send' | 'receive') => {
    if (err && !closed) opts.onError?.(err, op, local);
  };
  const sent = (err: Error | null) => report(err, 'send');
  sock.on('error', (err) => report(err, 'receive'));
  sock.on('close', () => {
    if (!closed) {
      closed = true;
      opts.onDeath?.(Object.assign(new Error('socket closed by the system'), { code: 'ECLOSED' }), local);
    }
  });
  return {
    local,
    send(bytes, to) {
      if (closed) return;
      // A connected socket can only reach its peer.
      try {
        if (connected) {
          if (samePeer(to, connected)) sock.send(bytes, sent);
        } else sock.send(bytes, to.port, to.address, sent);
      } catch (err) {
        report(err as Error, 'send');
      }
    },
    receive(handler) {
      sock.removeAllListeners('message');
      // rinfo already has `address` and `port`; passed as is to spare an allocation per datagram.
      sock.on('message', (msg, rinfo) => {
        if (!closed) handler(msg, rinfo);
      });
    },
    close() {
      if (closed) return;
      closed = true;
      sock.close();
    },
    fd: () => socketFd(sock),
  };
}

/** Binds (and optionally connects) a real UDP socket, udp4 or udp6 by the address. Rejects when the bind fails (EADDRINUSE, EACCES). */
export async function bindUdpSocket(
  bind: UdpPeer,
  opts: UdpSocketOptions = {},
  connectTo?: UdpPeer,
): Promise<DatagramSocket> {
  const sock = createSocket({ type: isIPv6(bind.address) ? 'udp6' : 'udp4' });
  await new Promise<void>((resolve, reject) => {
    sock.once('error', reject);
    sock.bind(bind.port, bind.address, () => {
      sock.off('error', reject);
      resolve();
    });
  });
  // Until `wrap` takes over, an error event is still reported (an unhandled one would end the process).
  const early = (err: Error) => opts.onError?.(err, 'receive', bind);
  sock.on('error', early);
  try {
    if (opts.recvBufferSize) sock.setRecvBufferSize(opts.recvBufferSize);
    if (opts.sendBufferSize) sock.setSendBufferSize(opts.sendBufferSize);
    if (connectTo)
      await new Promise<void>((resolve, reject) =>
        sock.connect(connectTo.port, connectTo.address, (err?: Error) => (err ? reject(err) : resolve())),
      );
  } catch (err) {
    sock.close();
    throw err;
  }
  const wrapped = wrap(sock, connectTo && { address: connectTo.address, port: connectTo.port }, opts);
  sock.off('error', early);
  return wrapped;
}

/** A factory of real UDP sockets, all with the same tuning. */
export function udpSocketFactory(opts: UdpSocketOptions = {}): DatagramSocketFactory {
  return (bind, connectTo) => bindUdpSocket(bind, opts, connectTo);
}

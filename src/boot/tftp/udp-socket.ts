import { createSocket, type Socket } from 'node:dgram';
import { isIPv6 } from 'node:net';
import { socketFd } from '../dhcp/bind-to-device.js';
import { samePeer, type DatagramSocket, type DatagramSocketFactory, type UdpPeer } from './datagram-socket.js';

/** Optional socket tuning; sizes are bytes, left to the kernel default when omitted. */
export interface UdpSocketOptions {
  recvBufferSize?: number;
  sendBufferSize?: number;
}

function wrap(sock: Socket, connected: UdpPeer | undefined): DatagramSocket {
  const addr = sock.address();
  let closed = false;
  return {
    local: { address: addr.address, port: addr.port },
    send(bytes, to) {
      if (closed) return;
      // No callback: a failed send (ENOBUFS, unreachable) goes to the no-op 'error' listener and the
      // TFTP sender retransmits on timeout. A connected socket can only reach its peer.
      if (connected) { if (samePeer(to, connected)) sock.send(bytes); }
      else sock.send(bytes, to.port, to.address);
    },
    receive(handler) {
      sock.removeAllListeners('message');
      // rinfo already has `address` and `port`; passed as is to spare an allocation per datagram.
      sock.on('message', (msg, rinfo) => { if (!closed) handler(msg, rinfo); });
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
export async function bindUdpSocket(bind: UdpPeer, opts: UdpSocketOptions = {}, connectTo?: UdpPeer): Promise<DatagramSocket> {
  const sock = createSocket({ type: isIPv6(bind.address) ? 'udp6' : 'udp4' });
  await new Promise<void>((resolve, reject) => {
    sock.once('error', reject);
    sock.bind(bind.port, bind.address, () => { sock.off('error', reject); resolve(); });
  });
  // Errors after bind (failed sends) are deliberately ignored here: retransmission covers them.
  sock.on('error', () => {});
  if (opts.recvBufferSize) sock.setRecvBufferSize(opts.recvBufferSize);
  if (opts.sendBufferSize) sock.setSendBufferSize(opts.sendBufferSize);
  if (connectTo) {
    try {
      await new Promise<void>((resolve) => sock.connect(connectTo.port, connectTo.address, resolve));
    } catch (err) {
      sock.close();
      throw err;
    }
  }
  return wrap(sock, connectTo && { address: connectTo.address, port: connectTo.port });
}

/** A factory of real UDP sockets, all with the same tuning. */
export function udpSocketFactory(opts: UdpSocketOptions = {}): DatagramSocketFactory {
  return (bind, connectTo) => bindUdpSocket(bind, opts, connectTo);
}

import { createSocket, type Socket } from 'node:dgram';
import { isIPv6 } from 'node:net';
import type { DatagramSocket, DatagramSocketFactory, UdpPeer } from './datagram-socket.js';

/** Optional socket tuning; sizes are bytes, left to the kernel default when omitted. */
export interface UdpSocketOptions {
  recvBufferSize?: number;
  sendBufferSize?: number;
}

const ignoreSendError = (): void => {
  // A failed send (ENOBUFS, unreachable) is deliberately ignored: the TFTP sender retransmits on timeout.
};

function wrap(sock: Socket): DatagramSocket {
  const addr = sock.address();
  let closed = false;
  return {
    local: { address: addr.address, port: addr.port },
    send(bytes, to) {
      if (!closed) sock.send(bytes, to.port, to.address, ignoreSendError);
    },
    receive(handler) {
      sock.removeAllListeners('message');
      sock.on('message', (msg, rinfo) => { if (!closed) handler(msg, { address: rinfo.address, port: rinfo.port }); });
    },
    close() {
      if (closed) return;
      closed = true;
      sock.close();
    },
  };
}

/** Binds a real UDP socket (udp4 or udp6 by the address). Rejects when the bind fails (EADDRINUSE, EACCES). */
export async function bindUdpSocket(bind: UdpPeer, opts: UdpSocketOptions = {}): Promise<DatagramSocket> {
  const sock = createSocket({ type: isIPv6(bind.address) ? 'udp6' : 'udp4' });
  await new Promise<void>((resolve, reject) => {
    sock.once('error', reject);
    sock.bind(bind.port, bind.address, () => { sock.off('error', reject); resolve(); });
  });
  // Socket errors after bind are reported per send; an 'error' event must not crash the process.
  sock.on('error', () => {});
  if (opts.recvBufferSize) sock.setRecvBufferSize(opts.recvBufferSize);
  if (opts.sendBufferSize) sock.setSendBufferSize(opts.sendBufferSize);
  return wrap(sock);
}

/** A factory of real UDP sockets, all with the same tuning. */
export function udpSocketFactory(opts: UdpSocketOptions = {}): DatagramSocketFactory {
  return (bind) => bindUdpSocket(bind, opts);
}

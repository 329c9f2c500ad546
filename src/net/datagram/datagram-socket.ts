// The one datagram socket abstraction of every UDP server (DHCP, TFTP, and
// what comes later, such as syslog): STYLE rule 4. Real UDP is udp-socket.ts,
// the in-memory fakes for unit tests are memory-socket.ts, and the Linux-only
// binding to a device is bind-to-device.ts.

/** An IPv4/IPv6 UDP endpoint: a peer, or the address a socket is bound to. */
export interface UdpPeer {
  address: string;
  port: number;
}

/**
 * A bound datagram socket, small enough to fake. `send` is fire-and-forget
 * (a lost or failed send is reported, and the protocol's retransmission
 * covers it); `bytes` must not be changed until the peer has acknowledged
 * it. `receive` sets the one handler, called once per datagram with bytes
 * and a peer owned by the handler.
 */
export interface DatagramSocket {
  /** The address and port the socket is bound to (the port the OS picked for port 0). */
  readonly local: UdpPeer;
  send(bytes: Uint8Array, to: UdpPeer): void;
  receive(handler: (bytes: Uint8Array, from: UdpPeer) => void): void;
  /** Closes the socket; idempotent. No handler call happens after it returns. */
  close(): void;
  /**
   * The OS descriptor of a real socket (absent on in-memory fakes), for the
   * native TFTP engine, which duplicates it. Valid until `close`.
   */
  fd?(): number;
}

/**
 * Binds a new socket; port 0 picks an ephemeral port (one per TFTP transfer,
 * RFC 1350 §4 TID). With `connectTo`, the socket is connected: it only
 * receives from that peer and sends to it cheaply (no per-send address lookup).
 */
export type DatagramSocketFactory = (bind: UdpPeer, connectTo?: UdpPeer) => Promise<DatagramSocket>;

/**
 * Where a socket reports trouble: every send or receive error after bind,
 * with its errno (the server logs it rate-limited and counts it, see
 * socket-error-log.ts), and its death, at most once: closed by the system, or
 * an errno in DEAD_SOCKET_ERRNOS. A dead socket must be re-opened
 * (reopen-socket.ts); `close()` asked for is no death.
 */
export interface SocketTrouble {
  onError?: (err: NodeJS.ErrnoException, op: 'send' | 'receive', local: UdpPeer) => void;
  onDeath?: (err: NodeJS.ErrnoException, local: UdpPeer) => void;
}

/** Errnos after which a socket will not work again as it is: its descriptor or bound device is gone. It must be re-opened. */
export const DEAD_SOCKET_ERRNOS: ReadonlySet<string> = new Set([
  'ENODEV',
  'ENXIO',
  'EBADF',
  'ENOTSOCK',
  'ERR_SOCKET_DGRAM_NOT_RUNNING',
]);

/** True when `a` and `b` are the same address and port. */
export function samePeer(a: UdpPeer, b: UdpPeer): boolean {
  return a.port === b.port && a.address === b.address;
}

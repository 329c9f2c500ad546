/** An IPv4/IPv6 UDP endpoint: a transfer's peer, or the address a socket is bound to. */
export interface UdpPeer {
  address: string;
  port: number;
}

/**
 * A bound datagram socket, small enough to fake. `send` is fire-and-forget
 * (a lost or failed send is covered by TFTP retransmission); `bytes` must not
 * be changed until the peer has acknowledged it. `receive` sets the one
 * handler, called once per datagram with bytes owned by the handler.
 */
export interface DatagramSocket {
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

/** True when `a` and `b` are the same address and port. */
export function samePeer(a: UdpPeer, b: UdpPeer): boolean {
  return a.port === b.port && a.address === b.address;
}

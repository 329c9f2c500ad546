/**
 * A small classic-pcap reader (libpcap format, tcpdump's default): yields the
 * UDP payloads of IPv4 frames with their endpoints, stripping the link,
 * IPv4 and UDP headers. Link types: Ethernet (1), raw IP (101), Linux cooked
 * (113). Little- and big-endian, micro- and nanosecond files. Pure; used by
 * golden tests and debugging tools.
 */

/** One UDP datagram from a capture; `index` is the 1-based frame number (as in Wireshark). */
export interface PcapUdpDatagram {
  index: number;
  src: string;
  srcPort: number;
  dst: string;
  dstPort: number;
  payload: Uint8Array;
}

const linkHeaderLength: Record<number, number> = { 1: 14, 101: 0, 113: 16 };

/** Reads every IPv4/UDP datagram of a classic pcap file; other frames are skipped. Throws Error on a bad file header. */
export function readPcapUdp(file: Uint8Array): PcapUdpDatagram[] {
  if (file.length < 24) throw new Error('pcap: shorter than the 24-byte file header');
  const view = new DataView(file.buffer, file.byteOffset, file.byteLength);
  const magics = [0xa1b2c3d4, 0xa1b23c4d];
  const le = magics.includes(view.getUint32(0, true));
  if (!le && !magics.includes(view.getUint32(0, false))) throw new Error('pcap: bad magic (pcapng is not supported)');
  const linkHeader = linkHeaderLength[view.getUint32(20, le)];
  if (linkHeader === undefined) throw new Error(`pcap: unsupported link type ${view.getUint32(20, le)}`);
  const out: PcapUdpDatagram[] = [];
  let at = 24;
  let index = 0;
  while (at + 16 <= file.length) {
    const capLen = view.getUint32(at + 8, le);
    const frame = file.subarray(at + 16, at + 16 + capLen);
    at += 16 + capLen;
    index++;
    const d = udpOfFrame(frame.subarray(linkHeader), index);
    if (d) out.push(d);
  }
  return out;
}

function udpOfFrame(ip: Uint8Array, index: number): PcapUdpDatagram | undefined {
  // IPv4 only (version nibble 4), protocol 17 = UDP, no fragments beyond the first.
  if (ip.length < 28 || ip[0] >> 4 !== 4 || ip[9] !== 17) return undefined;
  const ihl = (ip[0] & 0x0f) * 4;
  const udp = ip.subarray(ihl);
  if (udp.length < 8) return undefined;
  const udpLen = (udp[4] << 8) | udp[5];
  const addr = (o: number): string => `${ip[o]}.${ip[o + 1]}.${ip[o + 2]}.${ip[o + 3]}`;
  return {
    index,
    src: addr(12),
    srcPort: (udp[0] << 8) | udp[1],
    dst: addr(16),
    dstPort: (udp[2] << 8) | udp[3],
    payload: udp.subarray(8, Math.min(udpLen, udp.length)),
  };
}

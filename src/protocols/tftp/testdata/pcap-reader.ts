/**
 * Test-only classic-pcap reader for the TFTP golden tests: yields the UDP
 * payloads of IPv4 packets with their endpoints. Handles link types Ethernet
 * (1), raw IP (101) and Linux cooked (113), little- or big-endian files.
 * Replace with `src/protocols/pcap/reader.ts` once that shared reader lands.
 */

/** One UDP datagram from a capture. */
export interface PcapUdpDatagram {
  index: number;
  src: string;
  srcPort: number;
  dst: string;
  dstPort: number;
  payload: Uint8Array;
}

/** Reads every IPv4/UDP datagram of a classic pcap file; other frames are skipped. Throws on a bad header. */
export function readPcapUdp(file: Uint8Array): PcapUdpDatagram[] {
  const view = new DataView(file.buffer, file.byteOffset, file.byteLength);
  const magic = view.getUint32(0, true);
  const le = magic === 0xa1b2c3d4 || magic === 0xa1b23c4d;
  if (!le && view.getUint32(0, false) !== 0xa1b2c3d4 && view.getUint32(0, false) !== 0xa1b23c4d) throw new Error('not a pcap file');
  const linkType = view.getUint32(20, le);
  const linkHeader = linkType === 1 ? 14 : linkType === 113 ? 16 : linkType === 101 ? 0 : -1;
  if (linkHeader < 0) throw new Error(`unsupported link type ${linkType}`);
  const out: PcapUdpDatagram[] = [];
  let at = 24;
  let index = 0;
  while (at + 16 <= file.length) {
    const capLen = view.getUint32(at + 8, le);
    const frame = file.subarray(at + 16, at + 16 + capLen);
    at += 16 + capLen;
    index++;
    const ip = frame.subarray(linkHeader);
    if (ip.length < 20 || ip[0]! >> 4 !== 4 || ip[9] !== 17) continue;
    const ihl = (ip[0]! & 0x0f) * 4;
    const udp = ip.subarray(ihl);
    const udpLen = (udp[4]! << 8) | udp[5]!;
    const addr = (o: number): string => `${ip[o]}.${ip[o + 1]}.${ip[o + 2]}.${ip[o + 3]}`;
    out.push({
      index,
      src: addr(12),
      srcPort: (udp[0]! << 8) | udp[1]!,
      dst: addr(16),
      dstPort: (udp[2]! << 8) | udp[3]!,
      payload: udp.subarray(8, udpLen),
    });
  }
  return out;
}

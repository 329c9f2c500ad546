import { clientArchName, dhcpMessageTypeName, DhcpOption } from './codes.js';
import { findOption, getClientArchs, getClientMachineId, getSubOptions } from './options.js';
import { macOf, type DhcpPacket, type DhcpRawOption } from './packet.js';

const hex = (b: Uint8Array): string => Array.from(b, (x) => x.toString(16).padStart(2, '0')).join('');
const printable = (b: Uint8Array): boolean => b.length > 0 && b.every((x) => x >= 0x20 && x < 0x7f);
const ip4 = (b: Uint8Array): string =>
  Array.from({ length: b.length / 4 }, (_, i) => b.subarray(i * 4, i * 4 + 4).join('.')).join(',');
const uint = (b: Uint8Array): number => b.reduce((n, x) => n * 256 + x, 0);
const subs = (list: DhcpRawOption[]): string =>
  `{${list.map((s) => `${s.code}:${printable(s.data) ? JSON.stringify(String.fromCharCode(...s.data)) : hex(s.data)}`).join(' ')}}`;

const formatters: Record<number, (d: Uint8Array, p: DhcpPacket) => string> = {
  [DhcpOption.messageType]: (d) => dhcpMessageTypeName(d[0]),
  [DhcpOption.subnetMask]: ip4,
  [DhcpOption.router]: ip4,
  [DhcpOption.domainNameServer]: ip4,
  [DhcpOption.requestedIpAddress]: ip4,
  [DhcpOption.serverIdentifier]: ip4,
  [DhcpOption.broadcastAddress]: ip4,
  [DhcpOption.ntpServers]: ip4,
  [DhcpOption.interfaceMtu]: (d) => String(uint(d)),
  [DhcpOption.leaseTime]: (d) => String(uint(d)),
  [DhcpOption.renewalTime]: (d) => String(uint(d)),
  [DhcpOption.rebindingTime]: (d) => String(uint(d)),
  [DhcpOption.maxMessageSize]: (d) => String(uint(d)),
  [DhcpOption.parameterRequestList]: (d) => `[${d.join(',')}]`,
  [DhcpOption.clientSystemArchitecture]: (_, p) => `[${getClientArchs(p).map(clientArchName).join(',')}]`,
  [DhcpOption.clientNetworkInterfaceId]: (d) => (d.length === 3 ? `${d[0]}.${d[1]}.${d[2]}` : hex(d)),
  [DhcpOption.clientMachineId]: (d, p) => getClientMachineId(p) ?? hex(d),
  [DhcpOption.relayAgentInformation]: (_, p) => subs(getSubOptions(p, DhcpOption.relayAgentInformation)),
  [DhcpOption.ipxeEncapsulated]: (_, p) => subs(getSubOptions(p, DhcpOption.ipxeEncapsulated)),
  [DhcpOption.vendorSpecific]: (d, p) =>
    getSubOptions(p, DhcpOption.vendorSpecific).length ? subs(getSubOptions(p, DhcpOption.vendorSpecific)) : hex(d),
};

function formatOption(code: number, p: DhcpPacket): string {
  const d = findOption(p, code)!;
  const f = formatters[code];
  if (f) return f(d, p);
  return printable(d) ? JSON.stringify(String.fromCharCode(...d)) : hex(d);
}

/**
 * A stable one-line text dump of a message for logs and golden files: type,
 * xid, MAC, non-zero header fields, then every option in wire order (repeats
 * merged, RFC 3396) as `code=value`. Format changes must update the goldens.
 */
export function summarizeDhcp(p: DhcpPacket): string {
  const type = findOption(p, DhcpOption.messageType);
  const head = [
    type ? `DHCP${dhcpMessageTypeName(type[0])}` : p.op === 1 ? 'BOOTREQUEST' : 'BOOTREPLY',
    `xid=0x${p.xid.toString(16).padStart(8, '0')}`,
    `mac=${macOf(p)}`,
  ];
  if (p.hops) head.push(`hops=${p.hops}`);
  if (p.secs) head.push(`secs=${p.secs}`);
  if (p.flags) head.push(`flags=0x${p.flags.toString(16).padStart(4, '0')}`);
  for (const k of ['ciaddr', 'yiaddr', 'siaddr', 'giaddr'] as const) if (p[k] !== '0.0.0.0') head.push(`${k}=${p[k]}`);
  if (p.sname) head.push(`sname=${JSON.stringify(p.sname)}`);
  if (p.file) head.push(`file=${JSON.stringify(p.file)}`);
  const seen = new Set<number>();
  for (const o of p.options) {
    if (seen.has(o.code) || o.code === DhcpOption.messageType) continue;
    seen.add(o.code);
    head.push(`${o.code}=${formatOption(o.code, p)}`);
  }
  return head.join(' ');
}

import ipaddr from 'ipaddr.js';
import type { DhcpSubnet } from './dhcp-config.js';

/** An IPv4 address as an unsigned 32-bit number. */
export function ipToNumber(ip: string): number {
  return ipaddr.IPv4.parse(ip).toByteArray().reduce((n, b) => n * 256 + b, 0);
}

/** The dotted quad of an unsigned 32-bit number. */
export function numberToIp(n: number): string {
  return [n >>> 24, (n >>> 16) & 255, (n >>> 8) & 255, n & 255].join('.');
}

/** True when `ip` is inside `cidr`. */
export function inCidr(ip: string, cidr: string): boolean {
  const [net, bits] = ipaddr.IPv4.parseCIDR(cidr);
  return ipaddr.IPv4.parse(ip).match(net, bits);
}

/** The netmask of a CIDR as a dotted quad (option 1). */
export function maskOf(cidr: string): string {
  return ipaddr.IPv4.subnetMaskFromPrefixLength(ipaddr.IPv4.parseCIDR(cidr)[1]).toString();
}

/** True when `ip` is in one of the subnet's pools. */
export function inPools(ip: string, s: DhcpSubnet): boolean {
  const n = ipToNumber(ip);
  return s.pools.some((p) => n >= ipToNumber(p.start) && n <= ipToNumber(p.end));
}

/** Number of addresses in the subnet's pools. */
export function poolSize(s: DhcpSubnet): number {
  return s.pools.reduce((t, p) => t + ipToNumber(p.end) - ipToNumber(p.start) + 1, 0);
}

/** The `i`-th pool address (0-based, wrapping), walking the pools in order. */
export function poolAddress(s: DhcpSubnet, i: number): string {
  let k = i % poolSize(s);
  for (const p of s.pools) {
    const size = ipToNumber(p.end) - ipToNumber(p.start) + 1;
    if (k < size) return numberToIp(ipToNumber(p.start) + k);
    k -= size;
  }
  throw new RangeError('empty pool');
}

/**
 * The subnet a request belongs to (RFC 2131 §4.3.1): the one holding giaddr
 * for a relayed request. Otherwise, when any subnet names an `interface`, the
 * subnet of the interface the request arrived on (`arrival`, the device of the
 * receiving socket; undefined for the unbound relay socket, which serves only
 * relayed requests); else the directly attached one (`attached: true`, or the
 * only subnet). Undefined when none matches; the request is then ignored.
 */
export function selectSubnet(giaddr: string, subnets: readonly DhcpSubnet[], arrival?: string): DhcpSubnet | undefined {
  if (giaddr !== '0.0.0.0') return subnets.find((s) => inCidr(giaddr, s.cidr));
  if (subnets.some((s) => s.interface !== undefined)) return arrival === undefined ? undefined : subnets.find((s) => s.interface === arrival);
  return subnets.find((s) => s.attached) ?? (subnets.length === 1 ? subnets[0] : undefined);
}

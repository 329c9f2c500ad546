import ipaddr from 'ipaddr.js';
import type { DhcpSubnet } from './dhcp-config.js';

// Every DHCP request runs these several times (subnet by giaddr, pool checks,
// option 1), so the common forms are parsed by hand and config-derived values
// are cached; anything unusual still goes through ipaddr.js.

/** Strict dotted quad `a.b.c.d` (0..255, no leading zeros) as a number, or -1 for any other form. */
function fastQuad(ip: string): number {
  let n = 0;
  let part = 0;
  let digits = 0;
  let dots = 0;
  for (let i = 0; i < ip.length; i++) {
    const c = ip.charCodeAt(i);
    if (c === 46) {
      if (digits === 0 || dots === 3) return -1;
      n = n * 256 + part;
      part = 0;
      digits = 0;
      dots++;
    } else if (c >= 48 && c <= 57) {
      if (digits > 0 && part === 0) return -1; // leading zero: ipaddr.js decides what it means
      part = part * 10 + (c - 48);
      if (++digits > 3 || part > 255) return -1;
    } else return -1;
  }
  if (dots !== 3 || digits === 0) return -1;
  return n * 256 + part;
}

/** An IPv4 address as an unsigned 32-bit number. */
export function ipToNumber(ip: string): number {
  const fast = fastQuad(ip);
  if (fast >= 0) return fast;
  return ipaddr.IPv4.parse(ip)
    .toByteArray()
    .reduce((n, b) => n * 256 + b, 0);
}

/** The dotted quad of an unsigned 32-bit number. */
export function numberToIp(n: number): string {
  return `${n >>> 24}.${(n >>> 16) & 255}.${(n >>> 8) & 255}.${n & 255}`;
}

interface ParsedCidr {
  net: number;
  mask: number;
  maskText: string;
}
/** CIDRs come from config: a bounded cache keeps re-parsing off the request path. */
const cidrCache = new Map<string, ParsedCidr>();
const CIDR_CACHE_MAX = 4096;

function parseCidr(cidr: string): ParsedCidr {
  let p = cidrCache.get(cidr);
  if (p) return p;
  const [addr, bits] = ipaddr.IPv4.parseCIDR(cidr);
  const mask = bits === 0 ? 0 : (0xffffffff << (32 - bits)) >>> 0;
  const net = (addr.toByteArray().reduce((n, b) => n * 256 + b, 0) & mask) >>> 0;
  p = { net, mask, maskText: ipaddr.IPv4.subnetMaskFromPrefixLength(bits).toString() };
  if (cidrCache.size >= CIDR_CACHE_MAX) cidrCache.clear();
  cidrCache.set(cidr, p);
  return p;
}

/** True when `ip` is inside `cidr`. */
export function inCidr(ip: string, cidr: string): boolean {
  const { net, mask } = parseCidr(cidr);
  return (ipToNumber(ip) & mask) >>> 0 === net;
}

/** The netmask of a CIDR as a dotted quad (option 1). */
export function maskOf(cidr: string): string {
  return parseCidr(cidr).maskText;
}

/** A subnet's pools as numbers, computed once per (immutable) subnet object. */
const poolCache = new WeakMap<DhcpSubnet, { ranges: Array<[number, number]>; size: number }>();
function poolsOf(s: DhcpSubnet): { ranges: Array<[number, number]>; size: number } {
  let p = poolCache.get(s);
  if (!p) {
    const ranges = s.pools.map((r): [number, number] => [ipToNumber(r.start), ipToNumber(r.end)]);
    p = { ranges, size: ranges.reduce((t, [a, b]) => t + b - a + 1, 0) };
    poolCache.set(s, p);
  }
  return p;
}

/** True when `ip` is in one of the subnet's pools. */
export function inPools(ip: string, s: DhcpSubnet): boolean {
  const n = ipToNumber(ip);
  return poolsOf(s).ranges.some(([a, b]) => n >= a && n <= b);
}

/** Number of addresses in the subnet's pools. */
export function poolSize(s: DhcpSubnet): number {
  return poolsOf(s).size;
}

/** The `i`-th pool address (0-based, wrapping), walking the pools in order. */
export function poolAddress(s: DhcpSubnet, i: number): string {
  const { ranges, size } = poolsOf(s);
  let k = i % size;
  for (const [a, b] of ranges) {
    if (k < b - a + 1) return numberToIp(a + k);
    k -= b - a + 1;
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
  if (subnets.some((s) => s.interface !== undefined))
    return arrival === undefined ? undefined : subnets.find((s) => s.interface === arrival);
  return subnets.find((s) => s.attached) ?? (subnets.length === 1 ? subnets[0] : undefined);
}

import type { DhcpSubnet } from './dhcp-config.js';
import type { LeaseStore } from './lease-store.js';
import { inCidr, inPools, poolAddress, poolSize } from './subnet-math.js';

/** What one allocation needs to know. `hold` reserves the result in memory for the client's REQUEST (on DISCOVER). */
export interface AllocationRequest {
  mac: string;
  subnet: DhcpSubnet;
  reservedIp?: string | undefined;
  requested?: string | undefined;
  poolAllowed: boolean;
  hold: boolean;
}

/** Picks addresses; offers are held in memory only, the durable truth is the LeaseStore's primary key. */
export interface AddressAllocator {
  choose(req: AllocationRequest): Promise<string | undefined>;
  /** Drops the in-memory hold on `ip` (after it was bound). */
  release(ip: string): void;
  /** True when `ip` is offered to `mac` (an unexpired hold) or bound to it in the store: the only addresses `mac` may DECLINE. */
  isClientOf(ip: string, mac: string): Promise<boolean>;
}

/**
 * Order: the host's reservation; the MAC's current lease; the address the
 * client asks for when it is free in the pool (RFC 2131 §4.3.1); then the
 * next free pool address from a rotating cursor. Each candidate is checked
 * against the store and the offer holds; the scan is bounded by the pool size.
 */
export function createAddressAllocator(store: LeaseStore, now: () => number, holdMs: number): AddressAllocator {
  const holds = new Map<string, { mac: string; until: number }>();
  const cursors = new Map<string, number>();

  const heldByOther = (ip: string, mac: string): boolean => {
    const h = holds.get(ip);
    if (!h) return false;
    if (h.until <= now()) { holds.delete(ip); return false; }
    return h.mac !== mac;
  };
  const freeFor = async (ip: string, mac: string): Promise<boolean> => {
    if (heldByOther(ip, mac)) return false;
    const l = await store.getByIp(ip);
    return !l || l.expiresAt <= now() || (l.mac === mac && l.state === 'bound');
  };
  const hold = (ip: string, r: AllocationRequest): string => {
    if (r.hold) holds.set(ip, { mac: r.mac, until: now() + holdMs });
    return ip;
  };

  return {
    async choose(r) {
      if (r.reservedIp && inCidr(r.reservedIp, r.subnet.cidr)) return (await freeFor(r.reservedIp, r.mac)) ? hold(r.reservedIp, r) : undefined;
      if (!r.poolAllowed || poolSize(r.subnet) === 0) return undefined;
      const current = await store.getByMac(r.mac, r.subnet.cidr);
      if (current && current.expiresAt > now()) return hold(current.ip, r);
      if (r.requested && inPools(r.requested, r.subnet) && await freeFor(r.requested, r.mac)) return hold(r.requested, r);
      // A REQUEST for an address we would not give is answered with NAK by the decision; no new pick then.
      if (!r.hold) return undefined;
      const size = poolSize(r.subnet);
      let i = cursors.get(r.subnet.cidr) ?? 0;
      for (let n = 0; n < size; n++, i++) {
        const ip = poolAddress(r.subnet, i);
        if (await freeFor(ip, r.mac)) {
          cursors.set(r.subnet.cidr, (i + 1) % size);
          return hold(ip, r);
        }
      }
      return undefined;
    },
    release(ip) { holds.delete(ip); },
    async isClientOf(ip, mac) {
      const h = holds.get(ip);
      if (h && h.until > now() && h.mac === mac) return true;
      const l = await store.getByIp(ip);
      return !!l && l.mac === mac && l.state === 'bound' && l.expiresAt > now();
    },
  };
}

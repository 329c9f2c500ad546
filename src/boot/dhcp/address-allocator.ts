import type { DhcpSubnet } from './dhcp-config.js';
import type { Lease, LeaseStore } from './lease-store.js';
import { inCidr, inPools, poolAddress, poolSize } from './subnet-math.js';

/** What one allocation needs to know. `hold` reserves the result in memory for the client's REQUEST (on DISCOVER). */
export interface AllocationRequest {
  mac: string;
  subnet: DhcpSubnet;
  reservedIp?: string | undefined;
  requested?: string | undefined;
  poolAllowed: boolean;
  hold: boolean;
  /**
   * The requested address counts as free when the store says so, whatever this server offered it to another MAC: a
   * REQUEST answered for a dead member, whose offer to this client the holds here know nothing of (member-takeover.ts).
   */
  overHolds?: boolean;
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
 * Pool candidates one offer may examine. Scanning a whole exhausted /16
 * blocked the event loop for milliseconds per DISCOVER, so a flood of
 * DISCOVERs against a full pool could starve everything else. The cursor
 * keeps its place, so the next DISCOVERs continue where this one stopped;
 * pools up to this size are still scanned whole.
 */
export const POOL_SCAN_BUDGET = 4096;

/**
 * Order: the host's reservation; the MAC's current lease; on DISCOVER its
 * previous (expired or released) lease when free; the address the
 * client asks for when it is free in the pool (RFC 2131 §4.3.1); the address
 * already offered to this MAC (a retransmitted DISCOVER gets the same offer,
 * not a second address: RFC 2131 §4.3.1 has the server reserve what it
 * offered); then the next free pool address from a rotating cursor. Each
 * candidate is checked against the store and the offer holds; the scan is
 * bounded by the pool size.
 */
export function createAddressAllocator(store: LeaseStore, now: () => number, holdMs: number): AddressAllocator {
  const holds = new Map<string, { mac: string; subnet: string; until: number }>();
  /** The held address of each `subnet|mac`, so a retransmitted DISCOVER finds its offer. */
  const heldFor = new Map<string, string>();
  const cursors = new Map<string, number>();
  const macKey = (subnet: string, mac: string): string => `${subnet}|${mac}`;

  const dropHold = (ip: string): void => {
    const h = holds.get(ip);
    if (!h) return;
    holds.delete(ip);
    const k = macKey(h.subnet, h.mac);
    if (heldFor.get(k) === ip) heldFor.delete(k);
  };
  const heldByOther = (ip: string, mac: string): boolean => {
    const h = holds.get(ip);
    if (!h) return false;
    if (h.until <= now()) {
      dropHold(ip);
      return false;
    }
    return h.mac !== mac;
  };
  const freeLease = (l: Readonly<Lease> | undefined, mac: string): boolean =>
    !l || l.expiresAt <= now() || (l.mac === mac && l.state === 'bound');
  /** Whether `ip` is free for `mac`, from the holds and the store's in-memory view; undefined when the store must be asked. */
  const freeNow = (ip: string, mac: string): boolean | undefined => {
    if (heldByOther(ip, mac)) return false;
    // Not `peekByIp?.(ip) ?? 'unknown'`: a free address peeks as undefined, which must stay "free", not become
    // "ask the store". That turned every fresh pick into an await, and DISCOVERs handled together all took the
    // same address (one REQUEST ACKed, the rest NAKed) before any of them held it.
    const peeked = store.peekByIp ? store.peekByIp(ip) : 'unknown';
    return peeked === 'unknown' ? undefined : freeLease(peeked, mac);
  };
  // After the store's answer, the holds are looked at again: another request may have taken the address while this one waited.
  const askStore = async (ip: string, mac: string): Promise<boolean> =>
    freeLease(await store.getByIp(ip), mac) && !heldByOther(ip, mac);
  /** Free for `mac` in the store alone (other MACs' offer holds not counted). */
  const freeInStore = (ip: string, mac: string): boolean | Promise<boolean> => {
    const peeked = store.peekByIp ? store.peekByIp(ip) : 'unknown';
    return peeked === 'unknown' ? store.getByIp(ip).then((l) => freeLease(l, mac)) : freeLease(peeked, mac);
  };
  /** `freeNow`, or the store's answer when memory cannot tell: a promise only then (every REQUEST asks). */
  const freeFor = (ip: string, mac: string): boolean | Promise<boolean> => freeNow(ip, mac) ?? askStore(ip, mac);
  const hold = (ip: string, r: AllocationRequest): string => {
    if (!r.hold) return ip;
    const k = macKey(r.subnet.cidr, r.mac);
    const before = heldFor.get(k);
    if (before !== undefined && before !== ip) dropHold(before); // one offer per MAC and subnet
    holds.set(ip, { mac: r.mac, subnet: r.subnet.cidr, until: now() + holdMs });
    heldFor.set(k, ip);
    return ip;
  };
  /** The unexpired address this MAC was offered in this subnet, if it is still free for it. */
  const offeredTo = async (r: AllocationRequest, ip: string): Promise<string | undefined> => {
    if (!inPools(ip, r.subnet) || !(await freeFor(ip, r.mac))) {
      dropHold(ip);
      return undefined;
    }
    return ip;
  };

  // An `await` costs a turn of the microtask queue even for a plain value, so the answers memory already has
  // (every fresh DISCOVER's and REQUEST's, with the lease index loaded) are taken without one.
  return {
    async choose(r) {
      if (r.reservedIp && inCidr(r.reservedIp, r.subnet.cidr)) {
        const free = freeFor(r.reservedIp, r.mac);
        return (typeof free === 'boolean' ? free : await free) ? hold(r.reservedIp, r) : undefined;
      }
      if (!r.poolAllowed || poolSize(r.subnet) === 0) return undefined;
      const peeked = store.peekByMac ? store.peekByMac(r.mac, r.subnet.cidr) : 'unknown';
      const current = peeked === 'unknown' ? await store.getByMac(r.mac, r.subnet.cidr) : peeked;
      if (current && current.expiresAt > now()) return hold(current.ip, r);
      // RFC 2131 §4.3.1: next "the client's previous address as recorded in the client's (now expired or released)
      // binding", if free. A host that released its lease at shutdown (systemd-networkd does) boots back onto it.
      // Offers only: a REQUEST is for the address the client names, checked next.
      if (r.hold && current && inPools(current.ip, r.subnet)) {
        const free = freeFor(current.ip, r.mac);
        if (typeof free === 'boolean' ? free : await free) return hold(current.ip, r);
      }
      if (r.requested && inPools(r.requested, r.subnet)) {
        const free = r.overHolds ? freeInStore(r.requested, r.mac) : freeFor(r.requested, r.mac);
        if (typeof free === 'boolean' ? free : await free) return hold(r.requested, r);
      }
      // A REQUEST for an address we would not give is answered with NAK by the decision; no new pick then.
      if (!r.hold) return undefined;
      const held = heldFor.get(macKey(r.subnet.cidr, r.mac));
      if (held !== undefined) {
        const offered = await offeredTo(r, held);
        if (offered !== undefined) return hold(offered, r);
      }
      const size = poolSize(r.subnet);
      let i = cursors.get(r.subnet.cidr) ?? 0;
      for (let n = 0; n < Math.min(size, POOL_SCAN_BUDGET); n++, i++) {
        const ip = poolAddress(r.subnet, i);
        // No promise per candidate when the answer is in memory: a nearly full pool means thousands of candidates.
        if (freeNow(ip, r.mac) ?? (await askStore(ip, r.mac))) {
          cursors.set(r.subnet.cidr, (i + 1) % size);
          return hold(ip, r);
        }
      }
      cursors.set(r.subnet.cidr, i % size);
      return undefined;
    },
    release(ip) {
      dropHold(ip);
    },
    async isClientOf(ip, mac) {
      const h = holds.get(ip);
      if (h && h.until > now() && h.mac === mac) return true;
      const l = await store.getByIp(ip);
      return !!l && l.mac === mac && l.state === 'bound' && l.expiresAt > now();
    },
  };
}

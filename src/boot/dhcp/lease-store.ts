/** One address binding. `expiresAt` is ms since the epoch; an expired lease frees its address. */
export interface Lease {
  ip: string;
  mac: string;
  /** The subnet CIDR the address belongs to. */
  subnet: string;
  expiresAt: number;
  hostname?: string | undefined;
  /** `declined`: a client reported the address in use (DHCPDECLINE); `mac` is who declined it. */
  state: 'bound' | 'declined';
}

/** What the listener drives: the lease index (lease-notify.ts). */
export interface LeaseWatcher {
  /** Leases another controller committed, in commit order. */
  leases(ls: Lease[]): void;
  /** Notices may have been missed (the connection was lost): read everything again. */
  resync(): void;
}

/**
 * Result of one write in a group commit: `conflict` means another MAC holds the address unexpired, or (a bound lease)
 * the MAC holds another address of the subnet whose lease ends later: bound for a request that arrived after this one.
 */
export type LeasePutResult = 'ok' | 'conflict';

/**
 * Durable lease storage. The address is the primary key, so the store itself
 * refuses to give one address to two MACs (also across controllers sharing
 * one database). Times are ms since the epoch, passed in by the caller.
 */
export interface LeaseStore {
  getByMac(mac: string, subnet: string): Promise<Lease | undefined>;
  getByIp(ip: string): Promise<Lease | undefined>;
  /**
   * Writes leases in one transaction (a group commit) and resolves after it is
   * durable. Each write takes its address when it is free, expired at `now`,
   * or already held by the same MAC; it also drops the MAC's other leases in the subnet. A bound lease's `expiresAt`
   * is its request's arrival plus the lease time, so a later end means a later request: a bound lease is refused
   * while the MAC holds another address of the subnet that ends later (lease-upsert.ts).
   */
  putMany(leases: Lease[], now: number): Promise<LeasePutResult[]>;
  /**
   * Frees `ip` when `mac` holds it bound (RFC 2131 §4.4.6), a no-op otherwise (a RELEASE never undoes a DECLINE): the lease ends at `now` (ms) and its row
   * stays as the MAC's previous binding, so the same client is offered the address again while no one else took it
   * (RFC 2131 §4.3.1: the client's "now expired or released" binding before a new address).
   */
  release(ip: string, mac: string, now: number): Promise<void>;
  list(subnet?: string): Promise<Lease[]>;
  /**
   * The lease on `ip` from memory, without I/O or copying (do not change it), when this store
   * keeps a loaded in-memory view (createLeaseIndex); 'unknown' when the caller must use `getByIp`.
   * The allocator's pool scan uses it: a nearly full pool means thousands of candidates per offer.
   */
  peekByIp?(ip: string): Readonly<Lease> | undefined | 'unknown';
  /** The MAC's bound lease in `subnet` from memory, as `peekByIp` (every DISCOVER asks: no promise for it). */
  peekByMac?(mac: string, subnet: string): Readonly<Lease> | undefined | 'unknown';
  /**
   * Other controllers' writes to the same table as they commit (PostgreSQL: lease-notify.ts), for an in-memory
   * view; absent where no one else writes. Resolves the returned stop when done.
   */
  watch?(watcher: LeaseWatcher): () => Promise<void>;
  /**
   * Resolves when the store's own start-up work is done (SQLite file: its commit thread is up), so a server can
   * finish it before it answers the first request; it never rejects (a store that failed to start says so at
   * its first write). Absent: nothing to wait for.
   */
  ready?(): Promise<void>;
}

/** An in-memory LeaseStore for tests and `--dev`; same semantics as the SQL one, nothing survives a restart. */
export function createMemoryLeaseStore(): LeaseStore & { leases: Map<string, Lease> } {
  const byIp = new Map<string, Lease>();
  return {
    leases: byIp,
    async getByMac(mac, subnet) {
      for (const l of byIp.values()) if (l.mac === mac && l.subnet === subnet && l.state === 'bound') return { ...l };
      return undefined;
    },
    async getByIp(ip) {
      const l = byIp.get(ip);
      return l && { ...l };
    },
    async putMany(leases, now) {
      return leases.map((l) => {
        const cur = byIp.get(l.ip);
        if (cur && cur.mac !== l.mac && cur.expiresAt > now) return 'conflict';
        // The MAC's other bound leases in the subnet, found in one pass; lease-upsert.ts: a MAC bound elsewhere by a
        // later request keeps that binding, else they are dropped. A DECLINE moves no one (as in lease-upsert.ts).
        const others: string[] = [];
        if (l.state === 'bound')
          for (const [ip, o] of byIp) {
            if (o.mac !== l.mac || o.subnet !== l.subnet || ip === l.ip || o.state !== 'bound') continue;
            if (o.expiresAt > l.expiresAt) return 'conflict';
            others.push(ip);
          }
        for (const ip of others) byIp.delete(ip);
        byIp.set(l.ip, { ...l });
        return 'ok';
      });
    },
    async release(ip, mac, now) {
      const l = byIp.get(ip);
      if (l?.mac === mac && l.state === 'bound' && l.expiresAt > now) byIp.set(ip, { ...l, expiresAt: now });
    },
    async list(subnet) {
      return [...byIp.values()].filter((l) => subnet === undefined || l.subnet === subnet).map((l) => ({ ...l }));
    },
  };
}

/** A LeaseStore whose every call fails, for testing that the server survives a dead database. */
export function createBrokenLeaseStore(): LeaseStore {
  const fail = async (): Promise<never> => {
    throw new Error('lease store unavailable');
  };
  return { getByMac: fail, getByIp: fail, putMany: fail, release: fail, list: fail };
}

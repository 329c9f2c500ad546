import type { Lease, LeaseStore } from './lease-store.js';

const macKey = (mac: string, subnet: string): string => `${subnet}|${mac}`;

/**
 * A LeaseStore that answers `getByMac`/`getByIp` from memory and writes
 * through to `store`. The index is loaded once (`store.list()`) and updated
 * from each commit's results, so a DISCOVER costs no query. Another
 * controller on the same database can make the index stale; that is safe
 * because `store.putMany` stays the arbiter: a stale pick comes back as
 * `conflict` (the server sends DHCPNAK) and the address is re-read here.
 * Loading starts at once; while it fails (database down) every read fails
 * and the next one retries. Where the store hears other controllers' writes
 * (`watch`: PostgreSQL, lease-notify.ts) the index applies them as they
 * commit, and reads the table again when notices may have been missed.
 * Call once per server and `close()` with it; the caller owns `store`.
 */
export function createLeaseIndex(store: LeaseStore): LeaseStore & { close(): Promise<void> } {
  const byIp = new Map<string, Lease>();
  const byMac = new Map<string, Lease>();
  const forget = (ip: string): void => {
    const old = byIp.get(ip);
    if (!old) return;
    byIp.delete(ip);
    if (byMac.get(macKey(old.mac, old.subnet)) === old) byMac.delete(macKey(old.mac, old.subnet));
  };
  const remember = (l: Lease): void => {
    forget(l.ip);
    const lease = { ...l };
    byIp.set(l.ip, lease);
    if (l.state !== 'bound') return;
    // The store drops a MAC's other bound leases in the subnet when it binds a new one; mirror that.
    const prev = byMac.get(macKey(l.mac, l.subnet));
    if (prev && prev.ip !== l.ip) byIp.delete(prev.ip);
    byMac.set(macKey(l.mac, l.subnet), lease);
  };
  /**
   * Another controller's committed write. A MAC's binding that ends later wins, as in the table (lease-upsert.ts):
   * a notice of an earlier one, arriving after this index saw the later (its own commit, or an earlier notice), is old.
   */
  const heard = (l: Lease): void => {
    const mine = l.state === 'bound' ? byMac.get(macKey(l.mac, l.subnet)) : undefined;
    if (mine && mine.ip !== l.ip && mine.expiresAt > l.expiresAt) return;
    remember(l);
  };
  let loaded: Promise<void> | undefined;
  let ready = false;
  /** Notices heard while a (re)load reads the table: applied over what it read, in order. */
  let pending: Lease[] | null = null;
  /** The watch's (re)connections so far, and how many there had been when the view now served began its read. */
  let connects = 0;
  let readAfter = -1;
  const read = (): Promise<void> => {
    const from = connects;
    pending = [];
    return store.list().then(
      (all) => {
        byIp.clear();
        byMac.clear();
        for (const l of all) remember(l);
        for (const l of pending ?? []) heard(l);
        pending = null;
        readAfter = from;
        ready = true;
      },
      (err: unknown) => {
        pending = null;
        throw err;
      },
    );
  };
  const load = (): Promise<void> =>
    (loaded ??= read().catch((err: unknown) => {
      loaded = undefined;
      throw err;
    }));
  // With a watch, the first read waits for its first connection (or the first lookup): a read before it would be
  // read again once it connects, since writes between the two could not be heard. Without one, read now.
  if (!store.watch)
    load().catch(() => {
      /* the first read retries and reports it */
    });
  // A reload after the listener (re)connects: until it is done the old view serves (the table stays the arbiter).
  let reloading = false;
  const catchUp = (): void => {
    if (reloading) return;
    if (!ready) {
      void load().then(catchUp, () => {});
      return;
    }
    if (readAfter >= connects) return; // read since the last (re)connection: nothing was missed
    reloading = true;
    void read().then(
      () => {
        reloading = false;
        catchUp();
      },
      () => {
        /* the old view serves until the next reconnection; a write's conflict re-reads its address */
        reloading = false;
      },
    );
  };
  const resync = (): void => {
    connects++;
    catchUp();
  };
  /** What this server's own commit or read found; kept for a reload in progress too, which may have read before it. */
  const learn = (l: Lease): void => {
    remember(l);
    if (pending) pending.push(l);
  };
  const unwatch = store.watch?.({
    leases(ls) {
      if (pending) pending.push(...ls);
      else if (ready) for (const l of ls) heard(l);
    },
    resync,
  });

  return {
    close: async () => {
      await unwatch?.();
    },
    async getByMac(mac, subnet) {
      await load();
      const l = byMac.get(macKey(mac, subnet));
      return l && { ...l };
    },
    async getByIp(ip) {
      await load();
      const l = byIp.get(ip);
      return l && { ...l };
    },
    peekByIp: (ip) => (ready ? byIp.get(ip) : 'unknown'),
    peekByMac: (mac, subnet) => (ready ? byMac.get(macKey(mac, subnet)) : 'unknown'),
    async putMany(leases, now) {
      await load();
      const results = await store.putMany(leases, now);
      for (let i = 0; i < leases.length; i++) {
        const l = leases[i];
        if (results[i] === 'ok') {
          learn(l);
          continue;
        }
        // Someone else holds it (another controller, or an earlier write in this batch): re-read the truth.
        const cur = await store.getByIp(l.ip);
        if (cur) learn(cur);
        else forget(l.ip);
      }
      return results;
    },
    async release(ip, mac, now) {
      await store.release(ip, mac, now);
      const l = byIp.get(ip);
      if (l?.mac === mac && l.state === 'bound' && l.expiresAt > now) learn({ ...l, expiresAt: now });
    },
    list: (subnet) => store.list(subnet),
  };
}

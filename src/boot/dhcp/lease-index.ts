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
 * and the next one retries. Call once per server; the caller owns `store`.
 */
export function createLeaseIndex(store: LeaseStore): LeaseStore {
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
  let loaded: Promise<void> | undefined;
  let ready = false;
  const load = (): Promise<void> =>
    (loaded ??= store.list().then(
      (all) => {
        for (const l of all) remember(l);
        ready = true;
      },
      (err: unknown) => {
        loaded = undefined;
        throw err;
      },
    ));
  load().catch(() => {
    /* the first read retries and reports it */
  });

  return {
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
          remember(l);
          continue;
        }
        // Someone else holds it (another controller, or an earlier write in this batch): re-read the truth.
        const cur = await store.getByIp(l.ip);
        if (cur) remember(cur);
        else forget(l.ip);
      }
      return results;
    },
    async release(ip, mac, now) {
      await store.release(ip, mac, now);
      const l = byIp.get(ip);
      if (l?.mac === mac && l.state === 'bound' && l.expiresAt > now) remember({ ...l, expiresAt: now });
    },
    list: (subnet) => store.list(subnet),
  };
}

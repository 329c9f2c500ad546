import type { Mac } from '../net/mac.js';
import type { Host } from './host.js';

/**
 * Hosts by MAC in memory, for lookups on every DHCP request and script fetch.
 * Exact only while this process is the store's one writer (SQLite): every
 * host change made here calls `changed`, which empties it, and a lookup that
 * overlapped a change does not fill it (it may have read the row before the
 * change). On SQLite a read waits for an open write transaction (one
 * connection), so a lookup after `changed` reads what was committed. Unknown
 * MACs are not kept (they would push known hosts out). Entries are frozen:
 * every caller shares them. Oldest out past `max`.
 */
export function createHostMacCache(max = 100_000) {
  const entries = new Map<Mac, Host>();
  let generation = 0;
  return {
    /** The host of `mac`, from memory or from `load` (kept when no change overlapped the load). */
    async get(mac: Mac, load: (mac: Mac) => Promise<Host | null>): Promise<Host | null> {
      const hit = entries.get(mac);
      if (hit !== undefined) return hit;
      const before = generation;
      const host = await load(mac);
      if (!host || before !== generation) return host;
      if (entries.size >= max) entries.delete(entries.keys().next().value!);
      Object.freeze(host.nics);
      entries.set(mac, Object.freeze(host));
      return host;
    },
    /** A host was (or is being) changed, created or deleted: forget every entry and every lookup in flight. */
    changed(): void {
      generation++;
      entries.clear();
    },
    size: () => entries.size,
  };
}

/** The cache's type. */
export type HostMacCache = ReturnType<typeof createHostMacCache>;

import type { BootDeployment } from './deployment.js';

/**
 * Each host's current boot deployment in memory (null included), for the
 * per-host script of a deploying host, which would otherwise read the store
 * on every fetch. Exact only while this process is the store's one writer
 * (SQLite), like the inventory's host-by-MAC cache: every deployment write
 * made here calls `changed` (before the write, and again after its commit
 * when the writer knows it), which empties it, and a read that overlapped a
 * change does not fill it. On SQLite a read waits for an open write
 * transaction (one connection), so a read after `changed` sees what was
 * committed. Entries are frozen: every caller shares them. Oldest out past `max`.
 */
export function createBootDeploymentCache(max = 100_000) {
  const entries = new Map<string, BootDeployment | null>();
  let generation = 0;
  return {
    /** The host's current boot deployment, from memory or from `load` (kept when no change overlapped the load). */
    async get(
      hostId: string,
      load: (hostId: string) => Promise<BootDeployment | null>,
    ): Promise<BootDeployment | null> {
      const hit = entries.get(hostId);
      if (hit !== undefined) return hit;
      const before = generation;
      const d = await load(hostId);
      if (before !== generation) return d;
      if (entries.size >= max) entries.delete(entries.keys().next().value!);
      if (d) {
        Object.freeze(d.bootSpec.initrd);
        Object.freeze(d.bootSpec);
      }
      entries.set(hostId, d && Object.freeze(d));
      return d;
    },
    /** A deployment was (or is being) created or changed: forget every entry and every read in flight. */
    changed(): void {
      generation++;
      entries.clear();
    },
    size: () => entries.size,
  };
}

import type { HostFilter } from './host.js';

/** One host of a list page as the store gives it: `doc` is its API JSON document. */
export interface HostPageRow {
  id: string;
  name: string;
  state: string;
  doc: string;
}

/**
 * Host list pages in memory, keyed by the whole filter (cursor and limit
 * included), for `GET /api/v1/hosts` under load (issue 17). Exact only while
 * every change to the hosts reaches `changed`: on SQLite this process is the
 * store's one writer and the inventory calls it before and after each change;
 * on PostgreSQL the inventory calls it too, and so does the notification of a
 * host change committed by another controller (`live` is true only while that
 * listener is connected: without it nothing is kept or served). A load that
 * overlapped a change does not fill the cache (it may have read before the
 * change). Concurrent misses of one page share one load. Pages are frozen:
 * every caller shares them. Bounded by the documents' total length
 * (`maxChars`, UTF-16 units); least recently used out first, approximately
 * (second chance: a hit only marks its page, so a hit allocates nothing; see
 * `keep`).
 */
export function createHostPageCache(opts: { maxChars?: number; live?: boolean } = {}) {
  const maxChars = opts.maxChars ?? 16 << 20;
  const entries = new Map<string, { rows: readonly HostPageRow[]; chars: number; used: boolean }>();
  const loading = new Map<string, { generation: number; rows: Promise<readonly HostPageRow[]> }>();
  let generation = 0;
  let chars = 0;
  let live = opts.live ?? true;
  let hits = 0;
  let misses = 0;

  const clear = () => {
    generation++;
    entries.clear();
    loading.clear();
    chars = 0;
  };
  const keep = (key: string, rows: readonly HostPageRow[]) => {
    let size = 0;
    for (const r of rows) size += r.doc.length + r.name.length + r.id.length;
    // One page may take an eighth at most (a health scan reads 1000 hosts a batch).
    if (size > maxChars / 8) return;
    // Oldest first; a page used since it was last passed over goes to the back once, unmarked. A hit moving
    // its page to the back itself (delete and set on the Map) would re-allocate entries of a long-lived Map on
    // every request, which V8 then promotes to the old generation (a major collection every few seconds under load).
    while (chars + size > maxChars && entries.size > 0) {
      const [oldest, e] = entries.entries().next().value!;
      entries.delete(oldest);
      if (e.used) {
        e.used = false;
        entries.set(oldest, e);
        continue;
      }
      chars -= e.chars;
    }
    entries.set(key, { rows, chars: size, used: false });
    chars += size;
  };

  return {
    /** The page of `filter`, from memory or from `load` (kept when no change overlapped the load). */
    async get(filter: HostFilter, load: () => Promise<HostPageRow[]>): Promise<readonly HostPageRow[]> {
      if (!live) return load();
      const key = keyOf(filter);
      const hit = entries.get(key);
      if (hit !== undefined) {
        hits++;
        hit.used = true;
        return hit.rows;
      }
      misses++;
      const flight = loading.get(key);
      if (flight && flight.generation === generation) return flight.rows;
      const before = generation;
      const rows = load().then((r) => Object.freeze(r.map((x) => Object.freeze(x))));
      loading.set(key, { generation: before, rows });
      try {
        const page = await rows;
        if (before === generation && live) keep(key, page);
        return page;
      } finally {
        if (loading.get(key)?.rows === rows) loading.delete(key);
      }
    },
    /** Hosts were (or are being) changed, created or deleted: forget every page and every load in flight. */
    changed: clear,
    /** Whether changes by others are being heard (PostgreSQL's listener); false forgets everything and keeps nothing. */
    setLive: (on: boolean): void => {
      live = on;
      clear();
    },
    /** Pages held, their documents' length, and lookups answered from memory or not since start. */
    stats: () => ({ pages: entries.size, chars, hits, misses }),
  };
}

/** The cache's type. */
export type HostPageCache = ReturnType<typeof createHostPageCache>;

/** The filter as one string: every field (the type fails to compile when HostFilter gains one), in a fixed order. */
function keyOf(f: HostFilter): string {
  const parts: { [K in keyof Required<HostFilter>]: unknown } = {
    state: f.state,
    tag: f.tag,
    label: f.label && [f.label.key, f.label.value],
    mac: f.mac,
    namePrefix: f.namePrefix,
    profile: f.profile,
    attention: f.attention,
    after: f.after,
    limit: f.limit,
  };
  // JSON names each field given (an absent one is left out) and keeps values holding any character apart.
  return JSON.stringify(parts);
}

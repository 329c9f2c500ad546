/**
 * An in-memory cache of boot files for HTTP (kernels, initrds, iPXE
 * binaries). In a boot storm every machine fetches the same few files;
 * serving them from memory sends each response with one socket write of a
 * shared buffer (no read per chunk, no copy in user space), where a file
 * stream costs a read and a write, and their callbacks, per 256 KiB. Measured
 * in bench/http.bench.ts (docs/tftp.md "Benchmarks").
 *
 * Bounded by bytes (least recently used out first). An entry is keyed by the
 * file's path and checked against a fresh stat on every request (inode, size,
 * mtime), so a rebuilt image is never served stale. Concurrent misses on one
 * file share a single read. Files larger than the whole budget are not cached.
 */
import { readFile, stat } from 'node:fs/promises';
import type { Stats } from 'node:fs';

/** A cache of whole files; `get` returns null when the file is not cacheable (too big, changed while read). */
export interface BootFileCache {
  readonly maxBytes: number;
  get(absPath: string, st: Stats): Promise<Buffer | null>;
  readonly stats: { hits: number; misses: number; bytes: number; entries: number };
}

/** Default budget (the `http-cache-mib` setting): a discovery kernel and initrd and a few installers. */
export const DEFAULT_BOOT_CACHE_BYTES = 256 << 20;

interface Entry {
  version: string;
  bytes: Buffer;
}

const versionOf = (st: Stats): string => `${st.dev}:${st.ino}:${st.size}:${st.mtimeMs}`;

/** A cache holding at most `maxBytes` of file contents (0: nothing is cached). */
export function createBootFileCache(maxBytes: number): BootFileCache {
  const entries = new Map<string, Entry>(); // Map order = recency (oldest first)
  const loading = new Map<string, { version: string; p: Promise<Buffer | null> }>();
  const stats = { hits: 0, misses: 0, bytes: 0, entries: 0 };

  const drop = (path: string): void => {
    const e = entries.get(path);
    if (!e) return;
    entries.delete(path);
    stats.bytes -= e.bytes.length;
    stats.entries = entries.size;
  };

  const insert = (path: string, entry: Entry): void => {
    drop(path);
    while (stats.bytes + entry.bytes.length > maxBytes && entries.size > 0) drop(entries.keys().next().value!);
    entries.set(path, entry);
    stats.bytes += entry.bytes.length;
    stats.entries = entries.size;
  };

  const load = async (path: string, version: string): Promise<Buffer | null> => {
    const bytes = await readFile(path);
    // A file replaced or grown while it was read is served by the stream path this time.
    const after = await stat(path);
    if (versionOf(after) !== version || after.size !== bytes.length) return null;
    insert(path, { version, bytes });
    return bytes;
  };

  return {
    maxBytes,
    stats,
    async get(path, st) {
      if (!st.isFile() || st.size > maxBytes) return null;
      const version = versionOf(st);
      const hit = entries.get(path);
      if (hit && hit.version === version) {
        entries.delete(path); // refresh recency
        entries.set(path, hit);
        stats.hits++;
        return hit.bytes;
      }
      stats.misses++;
      const pending = loading.get(path);
      if (pending && pending.version === version) return pending.p;
      const p = load(path, version).finally(() => {
        if (loading.get(path)?.p === p) loading.delete(path);
      });
      loading.set(path, { version, p });
      return p;
    },
  };
}

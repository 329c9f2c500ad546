/**
 * Splits a root-filesystem tarball into objects and a manifest. Regular files
 * become objects (small ones buffered and written several at a time so their
 * fsyncs overlap; large ones streamed); everything else becomes manifest
 * metadata. Decompression: gzip in process, zstd through Debian's `zstd -dc`
 * (Node 20's zlib has no zstd), both by file name.
 */
import { spawn } from 'node:child_process';
import { createReadStream } from 'node:fs';
import { createGunzip } from 'node:zlib';
import { KilnError } from '../../error/kiln-error.js';
import { MANIFEST_FORMAT, sortEntries, type EntryType, type Manifest, type ManifestEntry } from './manifest.js';
import type { ObjectStore } from './object-store.js';
import { readTar, type TarEntry } from './tar-reader.js';

/** Counts of one import: entries, regular files, objects new to the store, and bytes of file content. */
export interface ImportStats {
  entries: number;
  files: number;
  newObjects: number;
  bytes: number;
  newBytes: number;
}

/** Files up to this size are read whole and written in parallel with others. */
const SMALL_FILE_BYTES = 1 << 20;
/** Object writes in flight at once (each ends in an fsync). */
const PARALLEL_PUTS = 16;

const typeOf: Record<string, EntryType> = {
  '0': 'file',
  '\0': 'file',
  '7': 'file',
  '1': 'hardlink',
  '2': 'symlink',
  '3': 'char',
  '4': 'block',
  '5': 'dir',
  '6': 'fifo',
};

/**
 * A tar member name as a manifest path: `./etc/x`, `etc/x/`, `/etc/x` all
 * become `/etc/x`; `.` and `./` become `/`. Refuses `..` segments. Pure.
 */
export function pathFromTarName(name: string): string {
  const segs = name.split('/').filter((s) => s !== '' && s !== '.');
  if (segs.includes('..')) throw new KilnError('validation_failed', `tar: ${JSON.stringify(name)} leaves the root`);
  return `/${segs.join('/')}`;
}

/** The manifest entry of a tar member, before its object id is known. Pure. */
export function entryFromTar(t: TarEntry): ManifestEntry {
  const type = typeOf[t.type];
  if (!type)
    throw new KilnError('validation_failed', `tar: ${t.name}: entry type ${JSON.stringify(t.type)} is not supported`);
  const e: ManifestEntry = {
    path: pathFromTarName(t.name),
    type,
    mode: t.mode,
    uid: t.uid,
    gid: t.gid,
    mtime: t.mtime,
  };
  if (t.xattrs.size > 0)
    e.xattrs = Object.fromEntries([...t.xattrs].sort().map(([k, v]) => [k, Buffer.from(v).toString('base64')]));
  if (type === 'symlink') e.target = t.linkname;
  if (type === 'hardlink') e.target = pathFromTarName(t.linkname);
  if (type === 'char' || type === 'block') {
    e.devMajor = t.devmajor;
    e.devMinor = t.devminor;
  }
  return e;
}

/** Adds a `dir` entry (0755, root, mtime 0) for every parent a tar left out, so every path has its parents. Pure. */
export function addMissingParents(entries: ManifestEntry[]): ManifestEntry[] {
  const have = new Set(entries.map((e) => e.path));
  const added: ManifestEntry[] = [];
  for (const e of entries) {
    let p = e.path;
    while (p !== '/') {
      p = p.slice(0, p.lastIndexOf('/')) || '/';
      if (have.has(p)) break;
      have.add(p);
      added.push({ path: p, type: 'dir', mode: 0o755, uid: 0, gid: 0, mtime: 0 });
    }
  }
  return [...entries, ...added];
}

/** The decompressed bytes of a `.tar`, `.tar.gz`/`.tgz` or `.tar.zst` file. */
export function openTarball(path: string): AsyncIterable<Uint8Array> {
  if (/\.tar$/.test(path)) return createReadStream(path, { highWaterMark: 1 << 20 });
  if (/\.(tar\.gz|tgz)$/.test(path)) return createReadStream(path, { highWaterMark: 1 << 20 }).pipe(createGunzip());
  if (/\.tar\.zst$/.test(path)) return zstdDecompress(path);
  throw new KilnError('validation_failed', `${path}: a root tarball must be .tar, .tar.gz or .tar.zst`);
}

async function* zstdDecompress(path: string): AsyncGenerator<Uint8Array> {
  const child = spawn('zstd', ['-dc', '--', path], { stdio: ['ignore', 'pipe', 'pipe'] });
  let stderr = '';
  child.stderr.on('data', (d: Buffer) => (stderr = (stderr + d.toString()).slice(-2000)));
  const exited = new Promise<number | null>((resolve, reject) => {
    child.on('error', reject);
    child.on('close', resolve);
  });
  try {
    for await (const chunk of child.stdout) yield chunk as Buffer;
    const code = await exited;
    if (code !== 0) throw new KilnError('validation_failed', `zstd -dc ${path} failed (${code}): ${stderr.trim()}`);
  } finally {
    if (child.exitCode === null) child.kill();
  }
}

async function collect(body: AsyncIterable<Uint8Array>): Promise<Uint8Array[]> {
  const parts: Uint8Array[] = [];
  for await (const c of body) parts.push(Uint8Array.from(c)); // a copy: the reader's buffer moves on
  return parts;
}

/** Imports a decompressed tar stream into `objects`; returns the manifest (entries sorted) and counts. */
export async function importTar(
  source: AsyncIterable<Uint8Array>,
  objects: ObjectStore,
): Promise<{ manifest: Manifest; stats: ImportStats }> {
  const entries: ManifestEntry[] = [];
  const stats: ImportStats = { entries: 0, files: 0, newObjects: 0, bytes: 0, newBytes: 0 };
  const inFlight = new Set<Promise<void>>();
  const created = new Set<string>();
  const failed: { err?: Error } = {};
  const record = (e: ManifestEntry, put: Promise<{ id: string; size: number; created: boolean }>) => {
    const p = put.then((r) => {
      e.object = r.id;
      e.size = r.size;
      // Two puts of one new object may both report `created` (both renamed, same bytes): count it once.
      if (r.created && !created.has(r.id)) {
        created.add(r.id);
        stats.newObjects++;
        stats.newBytes += r.size;
      }
    });
    return p;
  };
  for await (const { entry, body } of readTar(source)) {
    const e = entryFromTar(entry);
    entries.push(e);
    if (e.type !== 'file') continue;
    stats.files++;
    stats.bytes += entry.size;
    if (entry.size <= SMALL_FILE_BYTES) {
      const parts = await collect(body);
      while (inFlight.size >= PARALLEL_PUTS) await Promise.race(inFlight);
      if (failed.err) break;
      const p: Promise<void> = record(e, objects.put(parts))
        .catch(
          (err: unknown) =>
            void (failed.err ??= err instanceof Error ? err : new Error(`object write: ${String(err)}`)),
        )
        .finally(() => inFlight.delete(p));
      inFlight.add(p);
    } else {
      await record(e, objects.put(body));
    }
  }
  await Promise.all(inFlight);
  if (failed.err) throw failed.err;
  const seen = new Set<string>();
  for (const e of entries) {
    if (seen.has(e.path)) throw new KilnError('validation_failed', `tar: ${e.path} appears twice`);
    seen.add(e.path);
  }
  const all = addMissingParents(entries);
  stats.entries = all.length;
  return { manifest: { format: MANIFEST_FORMAT, entries: sortEntries(all) }, stats };
}

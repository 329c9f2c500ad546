// Kiln's node image at this member (docs/adr/0016-node-image-between-members.md): its own (built, found in the
// cache, or taken from a directory) or, while it has none, the version another member recorded last in the store.
// A file of a version this member did not build is fetched from a peer by its recorded SHA-256, checked against
// the recorded size and SHA-256 while written, kept under `copiesDir/<version>/`, and served from there.
import { createHash, randomBytes } from 'node:crypto';
import { createReadStream } from 'node:fs';
import { mkdir, readdir, rm, stat } from 'node:fs/promises';
import { join } from 'node:path';
import type { Kysely } from 'kysely';
import { keepVerifiedFile } from '../runtime/verified-file.js';
import { silentLogger, type Logger } from '../log/logger.js';
import type { NodeImageTables } from './node-image-tables.js';
import {
  getNewestNodeImageVersion,
  listNodeImageFiles,
  putNodeImageFiles,
  type NodeImageFile,
} from './sql-node-image-store.js';

/** The files of a node image version, all recorded, all served. */
export const NODE_IMAGE_FILES = ['vmlinuz', 'initrd.img'] as const;

/** What a version may look like (`<kernel release>-<12 hex digits>`, or a directory's `version` file): a path part. */
export const NODE_IMAGE_VERSION = /^[A-Za-z0-9][A-Za-z0-9._+-]{0,127}$/;

/** How long the newest recorded version is taken as read (ms) while this member has no image of its own. */
export const NEWEST_REFRESH_MS = 10_000;

/**
 * How long a fetched copy of a version that is neither recorded last nor served here is kept after it was last
 * fetched into or served from (ms): a script rendered before the switch may still name it. @default 1 h
 */
export const COPY_GRACE_MS = 60 * 60 * 1000;

/** How often `kiln serve` runs the copies' gc (ms). */
export const COPY_GC_INTERVAL_MS = 10 * 60 * 1000;

/** What this member serves without a version, for `kiln doctor` (null: nothing, no own image and none recorded). */
export type NodeImageServed =
  | { source: 'own'; version: string | null }
  | { source: 'built'; version: string }
  | { source: 'peer'; version: string; recordedBy: string; fetched: string[]; missing: string[] };

/** A node image this member has itself: its files in `dir`. `version` absent: not recorded or shared (tests). */
export interface OwnNodeImage {
  dir: string;
  arch: string;
  version?: string;
}

/**
 * Fetches one item by SHA-256 from the peers through `sink` (which throws `validation_failed` on wrong bytes);
 * resolves with the peer's name or null (src/cluster/peer-fetch.ts).
 */
export type FetchNodeImageFile = (
  kind: 'node-image',
  sha256: string,
  sink: (chunks: AsyncIterable<Uint8Array>) => Promise<void>,
) => Promise<string | null>;

const isFile = (p: string) =>
  stat(p).then(
    (s) => s.isFile(),
    () => false,
  );

async function hashFile(path: string): Promise<{ size: number; sha256: string }> {
  const h = createHash('sha256');
  let size = 0;
  for await (const c of createReadStream(path) as AsyncIterable<Buffer>) {
    h.update(c);
    size += c.length;
  }
  return { size, sha256: h.digest('hex') };
}

/** Creates the node image source of one member; `fetchFromPeers` absent (tests, one controller): its own image only. */
export function createNodeImageSource(deps: {
  db: Kysely<NodeImageTables>;
  /** This member's own image, null until ready (or with `boot.node-image` off); read at each call. */
  own: () => OwnNodeImage | null;
  /** Where files fetched from peers are kept (`<data-dir>/cache/node-image-peers`). */
  copiesDir: string;
  /** Where this member's own earlier build of a version would be (`<data-dir>/cache/discovery/<version>`), or null. */
  builtDir?: (version: string, arch: string) => string | null;
  fetchFromPeers?: FetchNodeImageFile;
  now?: () => number;
  log?: Logger;
}) {
  const log = deps.log ?? silentLogger;
  const now = deps.now ?? Date.now;
  // Files this member holds, by SHA-256, for its peers: its own (hashed when recorded) and verified copies.
  const held = new Map<string, string>();
  // Records never change once written (the first member's stand), so a found one is kept; a miss is not.
  const records = new Map<string, NodeImageFile[]>();
  const missed = new Map<string, number>();
  const inFlight = new Map<string, Promise<void>>();
  // When a version's copy was last served from (by version); its directory's mtime says when a file last came.
  const lastUsed = new Map<string, number>();
  let newest: { version: string; arch: string } | null = null;
  let newestAt = -Infinity;
  let reading: Promise<void> | null = null;

  function refreshNewest(): Promise<void> {
    if (reading) return reading;
    // Nothing recorded yet is asked again sooner: the first member's record should not wait out the interval.
    if (now() - newestAt < (newest ? NEWEST_REFRESH_MS : NEWEST_REFRESH_MS / 10)) return Promise.resolve();
    reading = getNewestNodeImageVersion(deps.db)
      .then((v) => {
        newest = v && NODE_IMAGE_VERSION.test(v.version) ? v : null;
      })
      .catch((err: unknown) => log.warn({ err: (err as Error).message }, 'node image: reading the store failed'))
      .finally(() => {
        newestAt = now();
        reading = null;
      });
    return reading;
  }

  async function recordOf(version: string): Promise<NodeImageFile[]> {
    const had = records.get(version);
    if (had) return had;
    // A version asked for on a public URL and not recorded is not read again for the interval (bounded).
    const miss = missed.get(version);
    if (miss !== undefined && now() - miss < NEWEST_REFRESH_MS) return [];
    const rows = await listNodeImageFiles(deps.db, version);
    if (rows.length === NODE_IMAGE_FILES.length) {
      if (records.size >= 64) records.clear();
      records.set(version, rows);
    } else {
      if (missed.size >= 1024) missed.clear();
      missed.set(version, now());
    }
    return rows;
  }

  /** The directory holding a verified copy of `rec`'s file, fetched from a peer if it is not here; null: no peer had it. */
  async function copyOf(rec: NodeImageFile): Promise<string | null> {
    const dir = join(deps.copiesDir, rec.version);
    const path = join(dir, rec.file);
    if (!(await isFile(path)) && deps.fetchFromPeers) {
      const key = `${rec.version}/${rec.file}`;
      let p = inFlight.get(key);
      if (!p) {
        p = (async () => {
          await mkdir(dir, { recursive: true, mode: 0o755 });
          await deps.fetchFromPeers!('node-image', rec.sha256, (chunks) =>
            keepVerifiedFile(chunks, {
              final: path,
              tmp: `${path}.${randomBytes(6).toString('hex')}.tmp`,
              size: rec.size,
              sha256: rec.sha256,
              what: `node image ${rec.version}/${rec.file}`,
            }),
          );
        })().finally(() => inFlight.delete(key));
        inFlight.set(key, p);
      }
      await p;
    }
    if (!(await isFile(path))) return null;
    held.set(rec.sha256, path);
    lastUsed.set(rec.version, now());
    return dir;
  }

  /** Removes the copies of versions neither recorded last nor served here, unused for `graceMs`. */
  async function gcCopies(graceMs: number): Promise<{ kept: string[]; removed: string[] }> {
    const names = await readdir(deps.copiesDir).catch(() => [] as string[]);
    const newestNow = await getNewestNodeImageVersion(deps.db);
    const keep = new Set([newestNow?.version, newest?.version, deps.own()?.version].filter((v) => v !== undefined));
    for (const key of inFlight.keys()) keep.add(key.split('/')[0]);
    const out = { kept: [] as string[], removed: [] as string[] };
    for (const v of names.sort()) {
      const dir = join(deps.copiesDir, v);
      const st = await stat(dir).catch(() => null);
      if (!st?.isDirectory() || !NODE_IMAGE_VERSION.test(v)) continue;
      const used = Math.max(st.mtimeMs, lastUsed.get(v) ?? 0);
      if (keep.has(v) || used > now() - graceMs) {
        out.kept.push(v);
        continue;
      }
      for (const [sha, path] of held) if (path.startsWith(`${dir}/`)) held.delete(sha);
      lastUsed.delete(v);
      await rm(dir, { recursive: true, force: true });
      out.removed.push(v);
    }
    if (out.removed.length > 0)
      log.info({ removed: out.removed, kept: out.kept }, 'node image: removed copies of versions no longer served');
    return out;
  }

  return {
    /**
     * The image this member serves now, for the per-host script: its own once ready, else the version recorded
     * last (read again at most every `NEWEST_REFRESH_MS`; the first call may answer null while it is read).
     */
    current(): { arch: string; version?: string } | null {
      const own = deps.own();
      if (own) return { arch: own.arch, ...(own.version ? { version: own.version } : {}) };
      if (!deps.fetchFromPeers) return null;
      void refreshNewest();
      return newest;
    },
    /** Reads the newest recorded version now (at start, so the first script does not wait for it). */
    refresh: (): Promise<void> => refreshNewest(),
    /**
     * The directory to serve `arch`/`file` of `version` from (absent: the image `current()` names); null when this
     * member has no such file and no peer served it. A version this member never built is served only from files
     * that matched the store's record.
     */
    async resolve(arch: string, file: string, version?: string): Promise<string | null> {
      if (!(NODE_IMAGE_FILES as readonly string[]).includes(file)) return null;
      const own = deps.own();
      if (own && (version === undefined || version === own.version)) return own.arch === arch ? own.dir : null;
      if (version === undefined) await refreshNewest();
      const want = version ?? newest?.version;
      if (want === undefined || !NODE_IMAGE_VERSION.test(want)) return null;
      // This member's own build of that version, from before (a restart while a new build runs): its own bytes.
      const built = deps.builtDir?.(want, arch);
      if (built && (await isFile(join(built, file)))) return built;
      if (!deps.fetchFromPeers) return null;
      const rec = (await recordOf(want)).find((r) => r.file === file);
      return rec && rec.arch === arch ? copyOf(rec) : null;
    },
    /**
     * Garbage-collects `copiesDir`: keeps the version recorded last (read from the store now), the one this member
     * serves, any being fetched, and any fetched into or served from within `graceMs`; removes the other versions'
     * copies (a later request for one fetches it again, while it is recorded and a peer holds it).
     */
    gcCopies: (graceMs: number = COPY_GRACE_MS) => gcCopies(graceMs),
    /** What this member serves without a version now, and which files of a peer's version are here (kiln doctor). */
    async served(): Promise<NodeImageServed | null> {
      const own = deps.own();
      if (own) return { source: 'own', version: own.version ?? null };
      if (!deps.fetchFromPeers) return null;
      await refreshNewest();
      const v = newest;
      if (!v) return null;
      const built = deps.builtDir?.(v.version, v.arch);
      if (built && (await isFile(join(built, NODE_IMAGE_FILES[0])))) return { source: 'built', version: v.version };
      const rec = await recordOf(v.version);
      const here = await Promise.all(NODE_IMAGE_FILES.map((f) => isFile(join(deps.copiesDir, v.version, f))));
      return {
        source: 'peer',
        version: v.version,
        recordedBy: rec[0]?.recordedBy ?? '(unknown)',
        fetched: NODE_IMAGE_FILES.filter((_, i) => here[i]),
        missing: NODE_IMAGE_FILES.filter((_, i) => !here[i]),
      };
    },
    /** The local file with this SHA-256 that this member holds (its own image's or a verified copy), for a peer. */
    pathOf: (sha256: string): string | null => held.get(sha256) ?? null,
    /**
     * Hashes this member's own image and records its files under its version (once per store: a version recorded
     * already stays as recorded; a build here whose bytes differ is logged, and peers are sent only recorded bytes).
     */
    async recordOwn(image: Required<OwnNodeImage>, member: string): Promise<void> {
      const at = new Date(now()).toISOString();
      const mine: NodeImageFile[] = [];
      for (const file of NODE_IMAGE_FILES) {
        const path = join(image.dir, file);
        const { size, sha256 } = await hashFile(path);
        held.set(sha256, path);
        mine.push({ version: image.version, file, arch: image.arch, size, sha256, recordedBy: member, recordedAt: at });
      }
      await putNodeImageFiles(deps.db, mine);
      const recorded = await recordOf(image.version);
      const differs = mine.filter((m) => !recorded.some((r) => r.file === m.file && r.sha256 === m.sha256));
      if (differs.length > 0)
        log.warn(
          { version: image.version, files: differs.map((d) => d.file), recordedBy: recorded[0]?.recordedBy },
          'node image: this member built other bytes than the member that recorded this version; it serves its own, its peers only the recorded ones',
        );
      else
        log.info(
          { version: image.version, recordedBy: recorded[0]?.recordedBy },
          'node image: files recorded in the store',
        );
    },
  };
}

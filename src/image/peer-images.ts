/**
 * Image records and tarballs this member lacks, taken from the member that
 * imported the image (docs/cluster.md, "Content between members"; ADR 0015).
 *
 * A record is named, not content-addressed, so it is taken only from an
 * authenticated peer (the member credential, the peer's own TLS CA) and only
 * as a pointer: what it names is checked here before anything is served. Its
 * manifest is fetched and verified by hash (peer-content.ts), its install
 * views are rendered here from that manifest and their hashes written into the
 * kept record (never the peer's), and its tarball is fetched by the SHA-256
 * and size the record names: streamed to a temp file in the images directory,
 * hashed while written, renamed to `<name>.<format>` only when both match.
 */
import { createHash, randomBytes } from 'node:crypto';
import { readFile, stat, unlink } from 'node:fs/promises';
import { join } from 'node:path';
import { KilnError } from '../error/kiln-error.js';
import { keepVerifiedFile } from '../runtime/verified-file.js';
import { silentLogger, type Logger } from '../log/logger.js';
import type { ImageStore, OsImage } from './image-store.js';
import { INSTALL_VIEWS, type InstallView } from './objects/install-views.js';
import { OBJECT_ID } from './objects/manifest.js';

/** Largest record text taken from a peer (a record is a few hundred bytes). */
const MAX_RECORD_BYTES = 64 << 10;

/** A fetched record is asked for again at most this often (ms): its importer may have added the name again. */
export const RECORD_REFRESH_MS = 10_000;

/** Names whose last answer is remembered at most (past it, every name is asked again). */
const MAX_REMEMBERED = 4096;

/** Fetches one item from the peers through `sink`; the peer's name, or null when none had it (peer-fetch.ts). */
export type FetchImageContent = (
  kind: 'images' | 'tarballs',
  id: string,
  sink: (chunks: AsyncIterable<Uint8Array>) => Promise<void>,
) => Promise<string | null>;

const refuse = (what: string) => new KilnError('validation_failed', `image record from a peer: ${what}`);

/** The record a peer sent, checked field by field; throws `validation_failed` on anything else. */
export function parsePeerRecord(name: string, text: string): OsImage {
  let v: unknown;
  try {
    v = JSON.parse(text);
  } catch {
    throw refuse('not JSON');
  }
  const r = v as Record<string, unknown>;
  if (typeof v !== 'object' || v === null) throw refuse('not an object');
  if (r['name'] !== name) throw refuse(`names ${JSON.stringify(r['name'])}, not ${name}`);
  if (r['format'] !== 'tar.gz' && r['format'] !== 'tar.zst') throw refuse('format');
  if (r['file'] !== `${name}.${r['format']}`) throw refuse(`file ${JSON.stringify(r['file'])}`);
  for (const k of ['sha256', 'manifest'])
    if (typeof r[k] !== 'string' || !OBJECT_ID.test(r[k])) throw refuse(`${k}: 64 hex digits required`);
  if (!Number.isSafeInteger(r['sizeBytes']) || (r['sizeBytes'] as number) < 0) throw refuse('sizeBytes');
  if (typeof r['addedAt'] !== 'string') throw refuse('addedAt');
  for (const k of ['entries', 'files'])
    if (r[k] !== undefined && (!Number.isSafeInteger(r[k]) || (r[k] as number) < 0)) throw refuse(k);
  return {
    name,
    file: r['file'],
    sha256: r['sha256'] as string,
    format: r['format'],
    sizeBytes: r['sizeBytes'] as number,
    addedAt: r['addedAt'],
    manifest: r['manifest'] as string,
    ...(r['entries'] !== undefined ? { entries: r['entries'] as number } : {}),
    ...(r['files'] !== undefined ? { files: r['files'] as number } : {}),
  };
}

async function textOf(chunks: AsyncIterable<Uint8Array>, max: number): Promise<string> {
  const parts: Buffer[] = [];
  let n = 0;
  for await (const c of chunks) {
    n += c.length;
    if (n > max) throw refuse(`over ${max} bytes`);
    parts.push(Buffer.from(c));
  }
  return Buffer.concat(parts).toString('utf8');
}

/** Creates the on-demand fetches of records and tarballs over the local image store. */
export function createPeerImages(deps: {
  images: ImageStore;
  /** Brings the manifest (verified by hash, with its views rendered here); true when it is here then. */
  ensureManifest: (id: string) => Promise<boolean>;
  /** The manifest store's directory (`<id>.<view>` files). */
  manifestsDir: string;
  fetchFromPeers: FetchImageContent;
  now?: () => number;
  log?: Logger;
}) {
  const { images } = deps;
  const now = deps.now ?? Date.now;
  const log = deps.log ?? silentLogger;
  const checked = new Map<string, number>();
  const inFlight = new Map<string, Promise<unknown>>();
  function once<T>(key: string, run: () => Promise<T>): Promise<T> {
    const had = inFlight.get(key);
    if (had) return had as Promise<T>;
    const p = run().finally(() => inFlight.delete(key));
    inFlight.set(key, p);
    return p;
  }

  async function viewHashes(id: string): Promise<Partial<Record<InstallView, string>>> {
    const out: Partial<Record<InstallView, string>> = {};
    for (const v of INSTALL_VIEWS) {
      const text = await readFile(join(deps.manifestsDir, `${id}.${v}`)).catch(() => null);
      if (text) out[v] = createHash('sha256').update(text).digest('hex');
    }
    return out;
  }

  /** Asks the peers for the record; keeps it once its manifest is here and verified. */
  async function fetchRecord(name: string, had: OsImage | null): Promise<OsImage | null> {
    let got: OsImage | null = null;
    const peer = await deps.fetchFromPeers('images', name, async (chunks) => {
      got = parsePeerRecord(name, await textOf(chunks, MAX_RECORD_BYTES));
    });
    const record = got as OsImage | null;
    if (peer === null || record === null) return had;
    if (had && had.manifest === record.manifest && had.sha256 === record.sha256) return had;
    if (!(await deps.ensureManifest(record.manifest!))) {
      log.warn(
        { image: name, peer, manifest: record.manifest },
        'content: no peer served the manifest the image record names; record not kept',
      );
      return had;
    }
    const kept: OsImage = { ...record, views: await viewHashes(record.manifest!), fetchedFrom: peer };
    images.record(kept);
    // The importer added the name again: the old tarball is this member's fetched copy, fetched anew when asked.
    if (had && had.sha256 !== kept.sha256) await unlink(join(images.dir, had.file)).catch(() => undefined);
    log.info(
      { image: name, peer, manifest: record.manifest, sha256: record.sha256 },
      'content: image record taken from a peer',
    );
    return kept;
  }

  async function fetchTarball(image: OsImage): Promise<boolean> {
    const final = join(images.dir, image.file);
    await deps.fetchFromPeers('tarballs', image.sha256, (chunks) =>
      keepVerifiedFile(chunks, {
        final,
        tmp: join(images.dir, `.${image.file}.${randomBytes(6).toString('hex')}.tmp`),
        size: image.sizeBytes,
        sha256: image.sha256,
        what: `tarball ${image.file}`,
      }),
    );
    return isFile(final);
  }

  return {
    /**
     * The image of that name: this member's own import as it is; otherwise the
     * record from the member that imported it (asked again at most every
     * `RECORD_REFRESH_MS`, a miss too; the kept copy serves while no peer
     * answers). Null when neither has it.
     */
    ensureImage(name: string): Promise<OsImage | null> {
      const had = images.get(name);
      if (had && had.fetchedFrom === undefined) return Promise.resolve(had);
      if (!/^[a-z0-9][a-z0-9._-]{0,62}$/.test(name)) return Promise.resolve(null);
      // The last answer stands for the interval, a miss included: public `/images/<name>.tar.gz` requests for a
      // name no member has must not each cost a round of peer calls.
      const last = checked.get(name);
      if (last !== undefined && now() - last < RECORD_REFRESH_MS) return Promise.resolve(had);
      return once(`r/${name}`, async () => {
        const got = await fetchRecord(name, had);
        if (checked.size >= MAX_REMEMBERED) checked.clear(); // names come from requests: bounded, not kept forever
        checked.set(name, now());
        return got;
      });
    },
    /** True when the image's tarball is here, fetched from a peer (by its SHA-256) if it was not. */
    ensureTarball(image: OsImage): Promise<boolean> {
      const final = join(images.dir, image.file);
      return once(`t/${image.file}`, async () => (await isFile(final)) || fetchTarball(image));
    },
  };
}

const isFile = (path: string) =>
  stat(path).then(
    (s) => s.isFile(),
    () => false,
  );

/** The peer-image fetches' type. */
export type PeerImages = ReturnType<typeof createPeerImages>;

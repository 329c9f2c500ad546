/**
 * An image manifest: every path of a root filesystem with its metadata, and
 * for each regular file the id (SHA-256) of the object holding its bytes. The
 * manifest's canonical JSON is hashed to give the image id, so two imports of
 * the same root give the same id. Pure.
 */
import { createHash } from 'node:crypto';
import { KilnError } from '../../error/kiln-error.js';

/** What a path is. A `hardlink` names an earlier `file` entry by `target` and shares its object. */
export type EntryType = 'file' | 'dir' | 'symlink' | 'hardlink' | 'char' | 'block' | 'fifo';

/** One path of an image. */
export interface ManifestEntry {
  /** Absolute, `/`-separated, no trailing slash; the root directory is `/`. */
  path: string;
  type: EntryType;
  /** Permission bits with setuid/setgid/sticky (0o7777), no file-type bits. */
  mode: number;
  uid: number;
  gid: number;
  /** Seconds since the epoch (may be fractional when the tar's pax header carries it). */
  mtime: number;
  /** Extended attributes, name to base64 value; absent when the tar carries none. */
  xattrs?: Record<string, string>;
  /** A symlink's target as written, or a hardlink's target path (normalised like `path`). */
  target?: string;
  /** Device numbers of `char` and `block` entries. */
  devMajor?: number;
  devMinor?: number;
  /** SHA-256 (lower-case hex) of a `file`'s bytes: the object id. */
  object?: string;
  /** A `file`'s size in bytes. */
  size?: number;
}

/** Manifest format marker; a change to the entry fields changes it. */
export const MANIFEST_FORMAT = 'kiln-image/1';

/** An image: its entries sorted by path (see `sortEntries`). */
export interface Manifest {
  format: typeof MANIFEST_FORMAT;
  entries: ManifestEntry[];
}

/** An object or image id: 64 lower-case hex digits. */
export const OBJECT_ID = /^[0-9a-f]{64}$/;

/** Orders entries by path, comparing UTF-16 code units (JavaScript's default string order). */
export function sortEntries(entries: ManifestEntry[]): ManifestEntry[] {
  return [...entries].sort((a, b) => (a.path < b.path ? -1 : a.path > b.path ? 1 : 0));
}

/** JSON with object keys sorted and no whitespace: one text for one value. `undefined` members are dropped. */
export function canonicalJson(value: unknown): string {
  if (value === null || typeof value !== 'object') {
    if (typeof value === 'number' && !Number.isFinite(value)) throw new Error('canonicalJson: non-finite number');
    return JSON.stringify(value);
  }
  if (Array.isArray(value)) return `[${value.map(canonicalJson).join(',')}]`;
  const obj = value as Record<string, unknown>;
  const keys = Object.keys(obj)
    .filter((k) => obj[k] !== undefined)
    .sort();
  return `{${keys.map((k) => `${JSON.stringify(k)}:${canonicalJson(obj[k])}`).join(',')}}`;
}

/** The canonical text of a manifest (entries sorted by path); its SHA-256 is the image id. */
export function formatManifest(m: Manifest): string {
  return canonicalJson({ format: m.format, entries: sortEntries(m.entries) });
}

/** SHA-256 of the canonical text, lower-case hex. */
export function manifestId(canonical: string): string {
  return createHash('sha256').update(canonical).digest('hex');
}

/**
 * Checks the invariants an installer relies on: unique normalised paths,
 * every parent a `dir` entry, objects and sizes on files only, hardlinks to
 * a `file` entry, device numbers on devices only. Returns every problem.
 */
export function checkManifest(m: Manifest): string[] {
  const problems: string[] = [];
  const byPath = new Map<string, ManifestEntry>();
  for (const e of m.entries) {
    if (byPath.has(e.path)) problems.push(`${e.path}: listed twice`);
    byPath.set(e.path, e);
    if (!/^\/$|^(\/[^/\0]+)+$/.test(e.path) || /\/\.\.?(\/|$)/.test(e.path))
      problems.push(`${JSON.stringify(e.path)}: not a normalised absolute path`);
  }
  for (const e of m.entries) {
    const isFile = e.type === 'file';
    if (isFile !== (e.object !== undefined && OBJECT_ID.test(e.object)) || isFile !== (e.size !== undefined))
      problems.push(`${e.path}: an object id and size belong to regular files only`);
    const isDev = e.type === 'char' || e.type === 'block';
    if (isDev !== (e.devMajor !== undefined && e.devMinor !== undefined))
      problems.push(`${e.path}: device numbers belong to char and block devices only`);
    if ((e.type === 'symlink' || e.type === 'hardlink') !== (e.target !== undefined))
      problems.push(`${e.path}: a target belongs to links only`);
    if (e.type === 'hardlink' && byPath.get(e.target ?? '')?.type !== 'file')
      problems.push(`${e.path}: hardlink target ${e.target} is not a regular file of this image`);
    if (e.path !== '/') {
      const parent = e.path.slice(0, e.path.lastIndexOf('/')) || '/';
      if (byPath.get(parent)?.type !== 'dir') problems.push(`${e.path}: parent ${parent} is not a directory entry`);
    }
  }
  return problems;
}

/** Parses and checks a manifest's JSON text; throws `validation_failed` listing the problems. */
export function parseManifest(text: string): Manifest {
  const value = JSON.parse(text) as Partial<Manifest>;
  if (value.format !== MANIFEST_FORMAT || !Array.isArray(value.entries))
    throw new KilnError('validation_failed', `not a ${MANIFEST_FORMAT} manifest`);
  const m = value as Manifest;
  const problems = checkManifest(m);
  if (problems.length > 0)
    throw new KilnError('validation_failed', `manifest: ${problems.slice(0, 5).join('; ')}`, {
      details: { problems: problems.length },
    });
  return m;
}

/** Object ids a manifest references, each once. */
export function objectsOf(m: Manifest): Set<string> {
  const ids = new Set<string>();
  for (const e of m.entries) if (e.object) ids.add(e.object);
  return ids;
}

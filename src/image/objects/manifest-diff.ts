/**
 * The difference between two image manifests, path by path, and the objects
 * an installer holding the first image must fetch to get the second. Pure.
 */
import { canonicalJson, objectsOf, type Manifest, type ManifestEntry } from './manifest.js';

/** One path present in both images with different metadata or content; `fields` names what differs. */
export interface ChangedEntry {
  path: string;
  fields: string[];
}

/** `added`/`removed`/`changed` are paths in path order; `newObjects` are ids in `b` absent from `a`, with their total size. */
export interface ManifestDiff {
  added: string[];
  removed: string[];
  changed: ChangedEntry[];
  newObjects: string[];
  newObjectBytes: number;
}

const FIELDS: readonly (keyof ManifestEntry)[] = [
  'type',
  'mode',
  'uid',
  'gid',
  'mtime',
  'xattrs',
  'target',
  'devMajor',
  'devMinor',
  'object',
  'size',
];

/** Fields of `x` and `y` (same path) that differ. */
export function changedFields(x: ManifestEntry, y: ManifestEntry): string[] {
  return FIELDS.filter((f) => canonicalJson(x[f] ?? null) !== canonicalJson(y[f] ?? null));
}

/** What changes from image `a` to image `b`. */
export function diffManifests(a: Manifest, b: Manifest): ManifestDiff {
  const before = new Map(a.entries.map((e) => [e.path, e]));
  const after = new Map(b.entries.map((e) => [e.path, e]));
  const added: string[] = [];
  const changed: ChangedEntry[] = [];
  for (const [path, y] of after) {
    const x = before.get(path);
    if (!x) added.push(path);
    else {
      const fields = changedFields(x, y);
      if (fields.length > 0) changed.push({ path, fields });
    }
  }
  const removed = [...before.keys()].filter((p) => !after.has(p));
  const have = objectsOf(a);
  const sizes = new Map<string, number>();
  for (const e of b.entries) if (e.object && !have.has(e.object)) sizes.set(e.object, e.size ?? 0);
  const byPath = (p: string, q: string) => (p < q ? -1 : p > q ? 1 : 0);
  return {
    added: added.sort(byPath),
    removed: removed.sort(byPath),
    changed: changed.sort((p, q) => byPath(p.path, q.path)),
    newObjects: [...sizes.keys()].sort(),
    newObjectBytes: [...sizes.values()].reduce((s, n) => s + n, 0),
  };
}

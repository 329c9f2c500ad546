/**
 * What a garbage collection of the object store removes: the mark set is
 * every object a kept manifest references; an unmarked object is swept only
 * when it has not been written or re-put within the grace period, so an
 * import running beside gc (objects stored, manifest not yet written) keeps
 * its objects. Pure.
 */
import { objectsOf, type Manifest } from './manifest.js';

/** How long an unreferenced object is kept after its last put, in ms: longer than any import. @default 1 h */
export const GC_GRACE_MS = 60 * 60 * 1000;

/** Every object id referenced by any of the manifests. */
export function markObjects(manifests: Iterable<Manifest>): Set<string> {
  const marked = new Set<string>();
  for (const m of manifests) for (const id of objectsOf(m)) marked.add(id);
  return marked;
}

/** The ids of `stored` to delete: unmarked and last put before `now - graceMs`. Sorted. */
export function sweepObjects(
  stored: readonly { id: string; mtimeMs: number }[],
  marked: ReadonlySet<string>,
  now: number,
  graceMs: number = GC_GRACE_MS,
): string[] {
  return stored
    .filter((o) => !marked.has(o.id) && o.mtimeMs < now - graceMs)
    .map((o) => o.id)
    .sort();
}

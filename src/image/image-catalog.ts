/**
 * Images as content-addressed objects: imports a root tarball into the
 * object store and a manifest, names it in the image store, and answers
 * show, diff and gc. Layout under the images directory:
 *
 *   <name>.<tar.gz|tar.zst>   the tarball as added, still served at /images/<file>
 *                             for today's image writer (it fetches a tarball)
 *   <name>.json               the image record, with its manifest id
 *   manifests/<id>.json       canonical manifest text; id = its SHA-256
 *   manifests/<id>.<view>     what the writer reads of it (objects/install-views.ts)
 *   objects/ab/cdef…          file contents by SHA-256, shared by all images
 */
import { join } from 'node:path';
import { KilnError } from '../error/kiln-error.js';
import { checkImageName, type ImageStore, type OsImage } from './image-store.js';
import { GC_GRACE_MS, markObjects, sweepObjects } from './objects/gc-plan.js';
import { importTar, openTarball, type ImportStats } from './objects/import-tar.js';
import { checkManifest, type Manifest } from './objects/manifest.js';
import { diffManifests, type ManifestDiff } from './objects/manifest-diff.js';
import { INSTALL_VIEWS, renderInstallView, type InstallView } from './objects/install-views.js';
import { createManifestStore } from './objects/manifest-store.js';
import { createObjectStore } from './objects/object-store.js';

/** What `gc` removed and kept. */
export interface GcReport {
  keptManifests: number;
  removedManifests: string[];
  keptObjects: number;
  removedObjects: number;
  removedBytes: number;
}

/** The catalog over the image store `images` (whose directory holds `objects/` and `manifests/`). */
export function createImageCatalog(images: ImageStore, opts: { now?: () => number } = {}) {
  const objects = createObjectStore(join(images.dir, 'objects'));
  const manifests = createManifestStore(join(images.dir, 'manifests'));
  const now = opts.now ?? Date.now;

  async function manifestOf(name: string): Promise<{ image: OsImage; manifest: Manifest }> {
    const image = images.get(name);
    if (!image) throw new KilnError('not_found', `no image ${JSON.stringify(name)} (kiln image list)`);
    if (!image.manifest)
      throw new KilnError('not_found', `image ${name} has no manifest: add it again with \`kiln image add\``);
    const manifest = await manifests.get(image.manifest);
    if (!manifest) throw new KilnError('not_found', `image ${name}: manifest ${image.manifest} is missing`);
    return { image, manifest };
  }

  return {
    objects,
    manifests,
    /**
     * Splits the tarball into objects and a manifest, then adds the tarball to
     * the image store (copied, as before) with the manifest id in its record.
     */
    async importImage(name: string, file: string): Promise<{ image: OsImage; stats: ImportStats }> {
      checkImageName(name);
      const { manifest, stats } = await importTar(openTarball(file), objects);
      const problems = checkManifest(manifest);
      if (problems.length > 0)
        throw new KilnError('validation_failed', `${file}: ${problems.slice(0, 5).join('; ')}`, {
          details: { problems: problems.length },
        });
      const id = await manifests.put(manifest);
      const views: Partial<Record<InstallView, string>> = {};
      for (const v of INSTALL_VIEWS) views[v] = await manifests.putView(id, v, renderInstallView(manifest, v));
      const added = await images.add(name, file);
      const image: OsImage = { ...added, manifest: id, entries: stats.entries, files: stats.files, views };
      images.record(image);
      return { image, stats };
    },
    /** An image's record and manifest; `not_found` when absent or added before manifests. */
    show: manifestOf,
    /** What changes from image `a` to image `b`. */
    async diff(a: string, b: string): Promise<ManifestDiff> {
      const [x, y] = await Promise.all([manifestOf(a), manifestOf(b)]);
      return diffManifests(x.manifest, y.manifest);
    },
    /**
     * Removes manifests no image names and objects no kept manifest
     * references (objects put within the grace period stay: an import may be
     * running). Every named image is kept, so every image a deployment names.
     */
    async gc(graceMs: number = GC_GRACE_MS): Promise<GcReport> {
      const named = new Set(images.list().flatMap((i) => (i.manifest ? [i.manifest] : [])));
      const removedManifests = (await manifests.list())
        .filter((m) => !named.has(m.id) && m.mtimeMs < now() - graceMs)
        .map((m) => m.id);
      const kept: Manifest[] = [];
      for (const id of named) {
        const m = await manifests.get(id);
        if (m) kept.push(m);
      }
      for (const id of removedManifests) await manifests.delete(id);
      const marked = markObjects(kept);
      const stored = await objects.list();
      const doomed = sweepObjects(stored, marked, now(), graceMs);
      let removedBytes = 0;
      for (const id of doomed) {
        removedBytes += (await objects.size(id)) ?? 0;
        await objects.delete(id);
      }
      return {
        keptManifests: kept.length,
        removedManifests,
        keptObjects: stored.length - doomed.length,
        removedObjects: doomed.length,
        removedBytes,
      };
    },
  };
}

/** The catalog's type. */
export type ImageCatalog = ReturnType<typeof createImageCatalog>;

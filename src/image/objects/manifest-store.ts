/**
 * Image manifests on disk, one file per image id: `<dir>/<id>.json` holding
 * the manifest's canonical text, so the file's SHA-256 is its name and a
 * client can check what it fetched. Written like objects (temp file, fsync,
 * rename).
 */
import { createHash, randomBytes } from 'node:crypto';
import { mkdir, open, readdir, readFile, rename, rm, stat, unlink } from 'node:fs/promises';
import { join } from 'node:path';
import { INSTALL_VIEWS, type InstallView } from './install-views.js';
import { formatManifest, manifestId, OBJECT_ID, parseManifest, type Manifest } from './manifest.js';

/** The manifest store rooted at `dir` (created on first write). */
export function createManifestStore(dir: string) {
  const pathOf = (id: string) => join(dir, `${id}.json`);
  return {
    dir,
    /** Path of a manifest's file; null for a string that is not an id. */
    pathOf: (id: string): string | null => (OBJECT_ID.test(id) ? pathOf(id) : null),
    /** Writes the manifest's canonical text under its id; returns the id. */
    async put(m: Manifest): Promise<string> {
      const text = formatManifest(m);
      const id = manifestId(text);
      await mkdir(dir, { recursive: true });
      const tmp = join(dir, `.${id}.${randomBytes(6).toString('hex')}.tmp`);
      const fh = await open(tmp, 'wx', 0o644);
      try {
        await fh.writeFile(text);
        await fh.sync();
        await fh.close();
        await rename(tmp, pathOf(id));
      } finally {
        await fh.close().catch(() => undefined);
        await unlink(tmp).catch(() => undefined);
      }
      return id;
    },
    /**
     * Writes one install view of manifest `id` (install-views.ts) beside it as
     * `<id>.<view>` (temp file, fsync, rename); returns the text's SHA-256.
     */
    async putView(id: string, view: InstallView, text: string): Promise<string> {
      if (!OBJECT_ID.test(id)) throw new Error(`manifest view: ${JSON.stringify(id)} is not an image id`);
      await mkdir(dir, { recursive: true });
      const tmp = join(dir, `.${id}.${view}.${randomBytes(6).toString('hex')}.tmp`);
      const fh = await open(tmp, 'wx', 0o644);
      try {
        await fh.writeFile(text);
        await fh.sync();
        await fh.close();
        await rename(tmp, join(dir, `${id}.${view}`));
      } finally {
        await fh.close().catch(() => undefined);
        await unlink(tmp).catch(() => undefined);
      }
      return createHash('sha256').update(text).digest('hex');
    },
    /** The manifest of that id, or null when absent. Throws when the file does not hash to its name. */
    async get(id: string): Promise<Manifest | null> {
      if (!OBJECT_ID.test(id)) return null;
      const text = await readFile(pathOf(id), 'utf8').catch(() => null);
      if (text === null) return null;
      if (manifestId(text) !== id) throw new Error(`manifest ${id}: the file's content hashes to ${manifestId(text)}`);
      return parseManifest(text);
    },
    /** Every stored manifest id with its file's mtime (ms), for gc. */
    async list(): Promise<{ id: string; mtimeMs: number }[]> {
      const names = await readdir(dir).catch(() => [] as string[]);
      const out: { id: string; mtimeMs: number }[] = [];
      for (const n of names.sort()) {
        const id = n.replace(/\.json$/, '');
        if (!OBJECT_ID.test(id) || n !== `${id}.json`) continue;
        const s = await stat(join(dir, n)).catch(() => null);
        if (s?.isFile()) out.push({ id, mtimeMs: s.mtimeMs });
      }
      return out;
    },
    /** Removes the manifest and its install views. */
    async delete(id: string): Promise<void> {
      if (!OBJECT_ID.test(id)) return;
      await rm(pathOf(id), { force: true });
      for (const v of INSTALL_VIEWS) await rm(join(dir, `${id}.${v}`), { force: true });
    },
  };
}

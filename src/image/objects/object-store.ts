/**
 * Content-addressed objects on disk: the bytes of every regular file of every
 * image, stored once under `<dir>/ab/cdef…` (the SHA-256 in hex, split after
 * two digits so no directory holds more than 1/256 of them).
 *
 * A put writes a private temp file in `<dir>/tmp/`, hashes while writing,
 * fsyncs, checks the hash (and the expected id, when the caller knows it) and
 * renames into place. Two writers of one object each rename a complete,
 * identical file, so concurrent puts are safe; a reader never sees a partial
 * object. A put of an object already present only touches its mtime, which
 * `gc` reads as "in use lately" (see image-gc.ts).
 */
import { createHash, randomBytes } from 'node:crypto';
import { mkdirSync } from 'node:fs';
import { mkdir, open, readdir, rename, rm, stat, unlink, utimes } from 'node:fs/promises';
import { join } from 'node:path';
import { KilnError } from '../../error/kiln-error.js';
import { OBJECT_ID } from './manifest.js';

/** What a put did: the id and size, and whether the object was new to the store. */
export interface PutResult {
  id: string;
  size: number;
  created: boolean;
}

/** Path of an object below the store directory: `ab/cdef…`. */
export function objectRelPath(id: string): string {
  return `${id.slice(0, 2)}/${id.slice(2)}`;
}

function checkId(id: string): void {
  if (!OBJECT_ID.test(id)) throw new KilnError('validation_failed', `object id ${JSON.stringify(id)}: 64 hex digits`);
}

/** The object store rooted at `dir` (created on first write). */
export function createObjectStore(dir: string) {
  const tmpDir = join(dir, 'tmp');
  const pathOf = (id: string) => join(dir, id.slice(0, 2), id.slice(2));

  async function exists(id: string): Promise<boolean> {
    return stat(pathOf(id)).then(
      (s) => s.isFile(),
      () => false,
    );
  }

  return {
    dir,
    /** Absolute path of an object (whether or not it exists). */
    pathOf(id: string): string {
      checkId(id);
      return pathOf(id);
    },
    has: (id: string): Promise<boolean> => (OBJECT_ID.test(id) ? exists(id) : Promise.resolve(false)),
    /** Size of a stored object, or null when absent. */
    async size(id: string): Promise<number | null> {
      if (!OBJECT_ID.test(id)) return null;
      const s = await stat(pathOf(id)).catch(() => null);
      return s?.isFile() ? s.size : null;
    },
    /**
     * Stores the bytes of `chunks`. With `expect`, a hash or size mismatch is
     * refused (`validation_failed`) and nothing is stored.
     */
    async put(chunks: AsyncIterable<Uint8Array> | Iterable<Uint8Array>, expect?: { id?: string }): Promise<PutResult> {
      mkdirSync(tmpDir, { recursive: true });
      const tmp = join(tmpDir, `${process.pid}-${randomBytes(8).toString('hex')}`);
      const hash = createHash('sha256');
      let size = 0;
      const fh = await open(tmp, 'wx', 0o644);
      try {
        try {
          for await (const chunk of chunks) {
            hash.update(chunk);
            size += chunk.length;
            let off = 0;
            while (off < chunk.length) off += (await fh.write(chunk, off)).bytesWritten;
          }
          await fh.sync();
        } finally {
          await fh.close();
        }
        const id = hash.digest('hex');
        if (expect?.id !== undefined && expect.id !== id)
          throw new KilnError('validation_failed', `object ${expect.id}: the bytes hash to ${id}`);
        const final = pathOf(id);
        if (await exists(id)) {
          const now = new Date();
          await utimes(final, now, now);
          return { id, size, created: false };
        }
        await mkdir(join(dir, id.slice(0, 2)), { recursive: true });
        await rename(tmp, final);
        return { id, size, created: true };
      } finally {
        await unlink(tmp).catch(() => undefined); // already renamed, or never complete
      }
    },
    /** Every stored object id with its mtime (ms), for gc. Skips the temp directory and stray names. */
    async list(): Promise<{ id: string; mtimeMs: number }[]> {
      const out: { id: string; mtimeMs: number }[] = [];
      const tops = await readdir(dir).catch(() => [] as string[]);
      for (const top of tops.filter((t) => /^[0-9a-f]{2}$/.test(t)).sort()) {
        for (const rest of (await readdir(join(dir, top))).sort()) {
          const id = top + rest;
          if (!OBJECT_ID.test(id)) continue;
          const s = await stat(join(dir, top, rest)).catch(() => null);
          if (s?.isFile()) out.push({ id, mtimeMs: s.mtimeMs });
        }
      }
      return out;
    },
    /** Removes an object (absent is fine). */
    async delete(id: string): Promise<void> {
      checkId(id);
      await rm(pathOf(id), { force: true });
    },
  };
}

/** The object store's type. */
export type ObjectStore = ReturnType<typeof createObjectStore>;

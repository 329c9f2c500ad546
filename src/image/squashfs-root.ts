// The root filesystem of a stateless boot (docs/stateless.md): an image's
// tarball unpacked once on the controller and packed with Debian's mksquashfs
// (squashfs-tools). Content-addressed (`squashfs/<sha256>.squashfs` under the
// images directory, so it is served at /images/squashfs/… with Range and HEAD
// like every image file), built once per image tarball (a sidecar keyed by
// the tarball's SHA-256 remembers which squashfs it made) and once at a time
// (concurrent plan requests share one build).
import { createHash } from 'node:crypto';
import {
  createReadStream,
  existsSync,
  mkdirSync,
  readFileSync,
  renameSync,
  rmSync,
  statSync,
  writeFileSync,
} from 'node:fs';
import { join } from 'node:path';
import { KilnError } from '../error/kiln-error.js';
import { silentLogger, type Logger } from '../log/logger.js';
import { runTool } from '../process/run-tool.js';
import type { OsImage } from './image-store.js';

/** A built squashfs root: its file under the images directory, digest and size. */
export interface SquashfsRoot {
  /** Path relative to the images directory (`squashfs/<sha256>.squashfs`). */
  file: string;
  sha256: string;
  sizeBytes: number;
}

/** mksquashfs's arguments: zstd (the Debian kernel reads it), no append, a fixed filesystem time, quiet. */
export const mksquashfsArgs = (tree: string, out: string): string[] => [
  tree,
  out,
  '-noappend',
  '-comp',
  'zstd',
  '-mkfs-time',
  '0',
  '-quiet',
  '-no-progress',
];

function sha256File(path: string): Promise<string> {
  return new Promise((resolve, reject) => {
    const h = createHash('sha256');
    createReadStream(path)
      .on('data', (d) => h.update(d))
      .on('end', () => resolve(h.digest('hex')))
      .on('error', reject);
  });
}

/** Builds and caches the squashfs roots of images kept in `imagesDir`. */
export function createSquashfsRoots(opts: { imagesDir: string; log?: Logger; timeoutMs?: number }) {
  const log = opts.log ?? silentLogger;
  const dir = join(opts.imagesDir, 'squashfs');
  const inflight = new Map<string, Promise<SquashfsRoot>>();
  const sidecar = (image: OsImage) => join(dir, `from-${image.sha256}.json`);

  function cached(image: OsImage): SquashfsRoot | null {
    const p = sidecar(image);
    if (!existsSync(p)) return null;
    const r = JSON.parse(readFileSync(p, 'utf8')) as SquashfsRoot;
    return existsSync(join(opts.imagesDir, r.file)) ? r : null;
  }

  async function build(image: OsImage): Promise<SquashfsRoot> {
    const started = Date.now();
    const work = join(dir, `.build-${image.sha256.slice(0, 16)}-${process.pid}`);
    rmSync(work, { recursive: true, force: true });
    const tree = join(work, 'root');
    mkdirSync(tree, { recursive: true });
    try {
      // GNU tar detects gzip/zstd itself; owners kept by number (as root), xattrs (file capabilities) kept.
      await runTool(
        'tar',
        [
          '-x',
          '-p',
          '--numeric-owner',
          '--xattrs',
          '--xattrs-include=*',
          '-f',
          join(opts.imagesDir, image.file),
          '-C',
          tree,
        ],
        { timeoutMs: opts.timeoutMs },
      );
      const out = join(work, 'root.squashfs');
      await runTool('mksquashfs', mksquashfsArgs(tree, out), { timeoutMs: opts.timeoutMs });
      const sha256 = await sha256File(out);
      const file = `squashfs/${sha256}.squashfs`;
      if (!existsSync(join(opts.imagesDir, file))) renameSync(out, join(opts.imagesDir, file));
      const r: SquashfsRoot = { file, sha256, sizeBytes: statSync(join(opts.imagesDir, file)).size };
      const tmp = `${sidecar(image)}.${process.pid}.tmp`;
      writeFileSync(tmp, JSON.stringify(r));
      renameSync(tmp, sidecar(image));
      log.info({ image: image.name, ...r, ms: Date.now() - started }, 'squashfs root built');
      return r;
    } catch (err) {
      throw new KilnError(
        'internal',
        `could not build the squashfs root of image ${image.name}: ${(err as Error).message} (needs GNU tar and mksquashfs from squashfs-tools)`,
      );
    } finally {
      rmSync(work, { recursive: true, force: true });
    }
  }

  return {
    /** The image's squashfs root, built on first use (later calls get the cached one; concurrent ones share a build). */
    async ensure(image: OsImage): Promise<SquashfsRoot> {
      const hit = cached(image);
      if (hit) return hit;
      mkdirSync(dir, { recursive: true });
      let p = inflight.get(image.sha256);
      if (!p) {
        p = build(image).finally(() => inflight.delete(image.sha256));
        inflight.set(image.sha256, p);
      }
      return p;
    },
  };
}

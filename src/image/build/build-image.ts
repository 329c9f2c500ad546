/**
 * `kiln image build`: runs mmdebstrap (a subprocess with an argument array)
 * into a private directory under `<data-dir>/cache/image-build/`, then
 * imports the tarball like `kiln image add` (objects, manifest, and the
 * tarball kept for today's image writer). SOURCE_DATE_EPOCH is always set,
 * so the same package set from the same mirror state gives the same image id.
 */
import { spawn } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { KilnError } from '../../error/kiln-error.js';
import type { ImageCatalog } from '../image-catalog.js';
import { checkImageName, type OsImage } from '../image-store.js';
import type { ImportStats } from '../objects/import-tar.js';
import { mirrorLinesFor, readAptSources } from './debian-sources.js';
import { mmdebstrapArgs, type BuildSpec } from './mmdebstrap-args.js';

/**
 * Default SOURCE_DATE_EPOCH: Debian 12's release day (2023-06-10). Any fixed
 * value gives reproducible output; files newer than it are clamped to it.
 */
export const DEFAULT_SOURCE_DATE_EPOCH = 1686355200;

/** Inputs of `buildImage`. */
export interface BuildImageOptions extends Omit<BuildSpec, 'mirrors' | 'output'> {
  name: string;
  catalog: ImageCatalog;
  /** The controller's data directory; the build's scratch space goes below `cache/image-build/`. */
  dataDir: string;
  sourceDateEpoch?: number;
  /** Where apt's sources are read. @default '/etc/apt' */
  aptRoot?: string;
  /** mmdebstrap's progress lines (stderr), one call per chunk. @default ignored */
  onProgress?: (text: string) => void;
  signal?: AbortSignal;
  /** PATH for mmdebstrap (the caller's environment; only `main` reads process.env). @default '/usr/sbin:/usr/bin:/sbin:/bin' */
  path?: string;
}

/** A built image: its record, import counts and how long each step took (ms). */
export interface BuiltImage {
  image: OsImage;
  stats: ImportStats;
  buildMs: number;
  importMs: number;
  mirrors: string[];
}

function run(cmd: string, args: string[], env: NodeJS.ProcessEnv, opts: BuildImageOptions): Promise<void> {
  return new Promise((resolve, reject) => {
    const child = spawn(cmd, args, { env, stdio: ['ignore', 'ignore', 'pipe'], signal: opts.signal });
    let tail = '';
    child.stderr.on('data', (d: Buffer) => {
      tail = (tail + d.toString()).slice(-4000);
      opts.onProgress?.(d.toString());
    });
    child.on('error', (err) =>
      reject(new KilnError('internal', `${cmd}: ${err.message} (install it: apt-get install ${cmd})`, { cause: err })),
    );
    child.on('close', (code) =>
      code === 0 ? resolve() : reject(new KilnError('internal', `${cmd} failed (exit ${code}):\n${tail.trim()}`)),
    );
  });
}

/** Builds the root and imports it as image `name`. Throws on a failed build; leaves no scratch files behind. */
export async function buildImage(opts: BuildImageOptions): Promise<BuiltImage> {
  checkImageName(opts.name);
  const mirrors = mirrorLinesFor(readAptSources(opts.aptRoot), opts.suite);
  const scratchRoot = join(opts.dataDir, 'cache', 'image-build');
  mkdirSync(scratchRoot, { recursive: true });
  const scratch = mkdtempSync(join(scratchRoot, `${opts.name}-`));
  try {
    const output = join(scratch, `${opts.name}.tar.zst`);
    const args = mmdebstrapArgs({ ...opts, mirrors, output });
    const env = {
      PATH: opts.path ?? '/usr/sbin:/usr/bin:/sbin:/bin',
      LANG: 'C.UTF-8',
      TMPDIR: scratch,
      SOURCE_DATE_EPOCH: String(opts.sourceDateEpoch ?? DEFAULT_SOURCE_DATE_EPOCH),
    };
    const t0 = Date.now();
    await run('mmdebstrap', args, env, opts);
    const t1 = Date.now();
    const { image, stats } = await opts.catalog.importImage(opts.name, output);
    return { image, stats, buildMs: t1 - t0, importMs: Date.now() - t1, mirrors };
  } finally {
    rmSync(scratch, { recursive: true, force: true });
  }
}

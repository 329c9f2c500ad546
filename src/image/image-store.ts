import { createHash } from 'node:crypto';
import {
  createReadStream,
  existsSync,
  mkdirSync,
  readdirSync,
  readFileSync,
  renameSync,
  statSync,
  copyFileSync,
  writeFileSync,
} from 'node:fs';
import { join } from 'node:path';
import { KilnError } from '../error/kiln-error.js';
import type { InstallView } from './objects/install-views.js';

/** An OS image the image writer can put on a disk: a tar of a root filesystem, served at `/images/<file>`. */
export interface OsImage {
  name: string;
  file: string;
  sha256: string;
  format: 'tar.gz' | 'tar.zst';
  sizeBytes: number;
  addedAt: string;
  /** Image id (SHA-256 of the manifest) once the tar is split into objects (image-import.ts); absent on older records. */
  manifest?: string;
  /** Manifest entries and regular files of the image, with the manifest. */
  entries?: number;
  files?: number;
  /**
   * SHA-256 of each install view written beside the manifest at import
   * (objects/install-views.ts); the writer reuses and fetches objects only
   * for an image that has them, and streams the tarball otherwise.
   */
  views?: Partial<Record<InstallView, string>>;
  /**
   * The member this record was taken from (image/peer-images.ts): absent on an
   * image imported here. Such a record is asked for again from its importer.
   */
  fetchedFrom?: string;
}

const namePattern = /^[a-z0-9][a-z0-9._-]{0,62}$/;

/** Throws `validation_failed` unless `name` is a valid image name (it becomes a file name in the store). */
export function checkImageName(name: string): void {
  if (!namePattern.test(name))
    throw new KilnError(
      'validation_failed',
      `image name "${name}": use 1–63 lower-case letters, digits, dots, dashes or underscores`,
    );
}

function formatOf(path: string): OsImage['format'] {
  if (/\.(tar\.gz|tgz)$/.test(path)) return 'tar.gz';
  if (/\.tar\.zst$/.test(path)) return 'tar.zst';
  throw new KilnError('validation_failed', `${path}: an image must be a .tar.gz or .tar.zst of a root filesystem`);
}

async function sha256Of(path: string): Promise<string> {
  const h = createHash('sha256');
  for await (const chunk of createReadStream(path, { highWaterMark: 1 << 20 })) h.update(chunk as Buffer);
  return h.digest('hex');
}

/** Images kept in one directory (`<data-dir>/images`): `<name>.<format>` plus `<name>.json` with its checksum. */
export function createImageStore(dir: string) {
  const metaPath = (name: string) => join(dir, `${name}.json`);
  return {
    dir,
    /** Copies a tar into the store (atomically) and records its sha256. */
    async add(name: string, source: string): Promise<OsImage> {
      checkImageName(name);
      if (!existsSync(source)) throw new KilnError('not_found', `no file ${source}`);
      const format = formatOf(source);
      mkdirSync(dir, { recursive: true });
      const file = `${name}.${format}`;
      const tmp = join(dir, `.${file}.${process.pid}.tmp`);
      copyFileSync(source, tmp);
      const img: OsImage = {
        name,
        file,
        format,
        sha256: await sha256Of(tmp),
        sizeBytes: statSync(tmp).size,
        addedAt: new Date().toISOString(),
      };
      renameSync(tmp, join(dir, file));
      writeFileSync(metaPath(name), `${JSON.stringify(img, null, 2)}\n`);
      return img;
    },
    /** Rewrites an image's record (atomically), e.g. to add its manifest id. */
    record(img: OsImage): void {
      const tmp = join(dir, `.${img.name}.json.${process.pid}.tmp`);
      writeFileSync(tmp, `${JSON.stringify(img, null, 2)}\n`);
      renameSync(tmp, metaPath(img.name));
    },
    /** The image of that name, or null. A name outside the pattern (a profile variable such as `../../x`) is never a path. */
    get(name: string): OsImage | null {
      if (!namePattern.test(name)) return null;
      return existsSync(metaPath(name)) ? (JSON.parse(readFileSync(metaPath(name), 'utf8')) as OsImage) : null;
    },
    list(): OsImage[] {
      if (!existsSync(dir)) return [];
      return readdirSync(dir)
        .filter((f) => f.endsWith('.json'))
        .sort()
        .map((f) => JSON.parse(readFileSync(join(dir, f), 'utf8')) as OsImage);
    },
  };
}

/** The image store's type. */
export type ImageStore = ReturnType<typeof createImageStore>;

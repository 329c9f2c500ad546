import { statfs } from 'node:fs/promises';
import { fail, ok, warn, type Check } from '../check.js';

const MIB = 1024 * 1024;

/** Free space of a file system: bytes free to Kiln's user and the file system's size. */
export type FreeSpace = (dir: string) => Promise<{ free: number; size: number }>;

const realFree: FreeSpace = async (dir) => {
  const s = await statfs(dir);
  return { free: s.bavail * s.bsize, size: s.blocks * s.bsize };
};

/**
 * `data-dir-disk`: free space in the data dir (images, caches, the SQLite
 * store and the syslog store grow there). Fail below `failMiB` (default 1024)
 * or `failPercent` (2) of the file system, warn below `warnMiB` (4096) or
 * `warnPercent` (10) (the `doctor:` config section).
 */
export function diskCheck(o: {
  dataDir: string;
  free?: FreeSpace;
  failMiB?: number;
  warnMiB?: number;
  failPercent?: number;
  warnPercent?: number;
}): Check {
  const read = o.free ?? realFree;
  return {
    name: 'data-dir-disk',
    async run() {
      const { free, size } = await read(o.dataDir);
      const pct = size > 0 ? (free / size) * 100 : 0;
      const detail = `${Math.floor(free / MIB)} MiB free (${pct.toFixed(1)} %) in ${o.dataDir}`;
      const fix = `free space on that file system: \`kiln image gc\` drops unreferenced image objects; old images go with \`kiln image list\`/\`rm\`; or move data-dir to a larger disk`;
      if (free < (o.failMiB ?? 1024) * MIB || pct < (o.failPercent ?? 2)) return fail(detail, fix);
      if (free < (o.warnMiB ?? 4096) * MIB || pct < (o.warnPercent ?? 10)) return warn(detail, fix);
      return ok(detail);
    },
  };
}

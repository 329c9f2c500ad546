// Turns a staging directory into a gzip-compressed newc initramfs, and copies
// host binaries with their shared libraries into a staging directory.
import {
  copyFileSync,
  existsSync,
  lstatSync,
  mkdirSync,
  readdirSync,
  readFileSync,
  readlinkSync,
  realpathSync,
  writeFileSync,
} from 'node:fs';
import { dirname, join } from 'node:path';
import { gzipSync } from 'node:zlib';
import { encodeCpioNewc, type CpioEntry } from './cpio-newc.js';
import { runTool } from '../process/run-tool.js';
import { parseLddOutput } from './shared-libraries.js';

/**
 * Every file, directory and symlink below `stage` as cpio entries (sorted, a
 * directory before its contents), plus dev/console (char 5:1), which the
 * kernel opens for init's stdio before devtmpfs is mounted.
 */
export function collectTreeEntries(stage: string): CpioEntry[] {
  const out: CpioEntry[] = [];
  const walk = (rel: string): void => {
    for (const name of readdirSync(join(stage, rel)).sort()) {
      const path = rel === '' ? name : `${rel}/${name}`;
      const st = lstatSync(join(stage, path));
      if (st.isSymbolicLink()) out.push({ kind: 'symlink', path, target: readlinkSync(join(stage, path)) });
      else if (st.isDirectory()) {
        out.push({ kind: 'dir', path, mode: st.mode & 0o7777 });
        walk(path);
      } else if (st.isFile())
        out.push({ kind: 'file', path, mode: st.mode & 0o7777, data: readFileSync(join(stage, path)) });
    }
  };
  walk('');
  if (!out.some((e) => e.path === 'dev')) out.push({ kind: 'dir', path: 'dev', mode: 0o755 });
  out.push({ kind: 'chardev', path: 'dev/console', mode: 0o600, major: 5, minor: 1 });
  return out;
}

/** Writes `stage` as a gzip newc archive to `file`; returns its size in bytes. */
export function writeInitramfs(stage: string, file: string): number {
  const gz = gzipSync(encodeCpioNewc(collectTreeEntries(stage)), { level: 6 });
  writeFileSync(file, gz);
  return gz.length;
}

/**
 * Copies host binary `src` to stage/`dest` and every shared library `ldd`
 * names to the same absolute path inside the stage (symlinks resolved).
 * Returns the host paths copied, for cache hashing.
 */
export async function stageHostBinary(stage: string, src: string, dest: string): Promise<string[]> {
  const libs = parseLddOutput(await runTool('ldd', [src]).catch(() => ''));
  const copied = [src];
  mkdirSync(dirname(join(stage, dest)), { recursive: true });
  copyFileSync(realpathSync(src), join(stage, dest));
  for (const lib of libs) {
    const target = join(stage, lib);
    if (existsSync(target)) continue;
    mkdirSync(dirname(target), { recursive: true });
    copyFileSync(realpathSync(lib), target);
    copied.push(lib);
  }
  return copied;
}

// Fetching and unpacking Debian packages on the controller, without installing
// them: `apt-get download` into a cache directory, `dpkg-deb -x` into a tree.
import { existsSync, mkdirSync, readdirSync, renameSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import type { Logger } from '../log/logger.js';
import { silentLogger } from '../log/logger.js';
import { runTool } from '../process/run-tool.js';

/**
 * The versioned kernel package behind a metapackage (`linux-image-amd64` →
 * `linux-image-6.1.0-56-amd64`), from `apt-cache depends` output.
 */
export function kernelPackageFromDepends(text: string): string | undefined {
  return text.match(/Depends:\s*(linux-image-\d[^\s<>]*)/)?.[1];
}

/** Resolves the kernel package of `meta` (default linux-image-amd64) with apt-cache. */
export async function resolveKernelPackage(meta = 'linux-image-amd64'): Promise<string> {
  const out = await runTool('apt-cache', ['depends', meta]);
  const name = kernelPackageFromDepends(out);
  if (name === undefined) throw new Error(`apt-cache depends ${meta} names no linux-image package`);
  return name;
}

/**
 * Downloads `pkg`'s .deb into `debDir` unless one is already there, and returns
 * its path. The file name carries the version, so it doubles as a cache key.
 */
export async function fetchDebianPackage(pkg: string, debDir: string, log: Logger = silentLogger): Promise<string> {
  mkdirSync(debDir, { recursive: true });
  const find = () => readdirSync(debDir).find((f) => f.startsWith(`${pkg}_`) && f.endsWith('.deb'));
  const have = find();
  if (have !== undefined) return join(debDir, have);
  log.info({ pkg }, 'downloading Debian package');
  await runTool('apt-get', ['download', '-q', pkg], { cwd: debDir, timeoutMs: 600_000 });
  const got = find();
  if (got === undefined) throw new Error(`apt-get download ${pkg} produced no .deb`);
  return join(debDir, got);
}

/** Unpacks `deb` into `dir` unless `dir` exists (unpacked earlier), via a temporary sibling renamed into place; returns `dir`. */
export async function extractDebianPackage(deb: string, dir: string): Promise<string> {
  if (existsSync(dir)) return dir;
  const tmp = `${dir}.tmp${process.pid}`;
  rmSync(tmp, { recursive: true, force: true });
  mkdirSync(tmp, { recursive: true });
  try {
    await runTool('dpkg-deb', ['-x', deb, tmp]);
  } catch (err) {
    rmSync(tmp, { recursive: true, force: true });
    throw err;
  }
  renameSync(tmp, dir);
  return dir;
}

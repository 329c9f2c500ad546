// The Debian kernel and busybox, unpacked once per package version under the
// cache directory, and helpers that copy parts of them into a staging tree.
import { copyFileSync, existsSync, mkdirSync, readFileSync, symlinkSync } from 'node:fs';
import { basename, dirname, join } from 'node:path';
import type { Logger } from '../log/logger.js';
import { extractDebianPackage, fetchDebianPackage, resolveKernelPackage } from './debian-package.js';
import { parseModulesDep, resolveModules, type ModuleIndex } from './module-deps.js';
import { runTool } from '../process/run-tool.js';

/** An unpacked kernel package with its module index (depmod run on the tree). */
export interface KernelTree {
  /** The .deb file name, which carries the package version (a cache input). */
  deb: string;
  /** Kernel release, e.g. "6.1.0-56-amd64". */
  release: string;
  root: string;
  vmlinuz: string;
  index: ModuleIndex;
}

/** An unpacked busybox-static with its applet paths ("usr/bin/wget"). */
export interface BusyboxTree {
  deb: string;
  binary: string;
  applets: string[];
}

/** Fetches, unpacks and depmods the kernel package behind linux-image-amd64. */
export async function prepareKernel(cacheDir: string, log: Logger): Promise<KernelTree> {
  const pkg = await resolveKernelPackage();
  const deb = await fetchDebianPackage(pkg, join(cacheDir, 'debs'), log);
  const root = await extractDebianPackage(deb, join(cacheDir, 'unpacked', basename(deb, '.deb')));
  const release = pkg.replace(/^linux-image-/, '');
  const depFile = join(root, 'lib/modules', release, 'modules.dep');
  if (!existsSync(depFile)) await runTool('depmod', ['-b', root, release]);
  return {
    deb: basename(deb),
    release,
    root,
    vmlinuz: join(root, 'boot', `vmlinuz-${release}`),
    index: parseModulesDep(readFileSync(depFile, 'utf8')),
  };
}

/** Fetches and unpacks busybox-static and lists its applets. */
export async function prepareBusybox(cacheDir: string, log: Logger): Promise<BusyboxTree> {
  const deb = await fetchDebianPackage('busybox-static', join(cacheDir, 'debs'), log);
  const root = await extractDebianPackage(deb, join(cacheDir, 'unpacked', basename(deb, '.deb')));
  const binary = join(root, 'bin/busybox');
  const applets = (await runTool(binary, ['--list-full']))
    .split('\n')
    .map((l) => l.trim())
    .filter(Boolean);
  return { deb: basename(deb), binary, applets };
}

/** Copies busybox to stage/bin/busybox and links every applet to it (existing files win). */
export function stageBusybox(stage: string, bb: BusyboxTree): void {
  mkdirSync(join(stage, 'bin'), { recursive: true });
  copyFileSync(bb.binary, join(stage, 'bin/busybox'));
  for (const applet of bb.applets) {
    const dest = join(stage, applet);
    if (existsSync(dest) || applet === 'bin/busybox') continue;
    mkdirSync(dirname(dest), { recursive: true });
    const depth = applet.split('/').length - 1;
    symlinkSync(`${'../'.repeat(depth)}bin/busybox`, dest);
  }
}

/**
 * Copies the modules `names` need (with dependencies) into
 * stage/lib/modules/<release> and runs depmod there. Returns the names this
 * kernel lacks as modules (built in or absent).
 */
export async function stageModules(stage: string, kernel: KernelTree, names: readonly string[]): Promise<string[]> {
  const { paths, missing } = resolveModules(kernel.index, names);
  const src = join(kernel.root, 'lib/modules', kernel.release);
  const dst = join(stage, 'lib/modules', kernel.release);
  for (const p of paths) {
    mkdirSync(dirname(join(dst, p)), { recursive: true });
    copyFileSync(join(src, p), join(dst, p));
  }
  for (const f of ['modules.builtin', 'modules.builtin.modinfo', 'modules.order']) {
    if (existsSync(join(src, f))) copyFileSync(join(src, f), join(dst, f));
  }
  await runTool('depmod', ['-b', stage, kernel.release]);
  return missing;
}

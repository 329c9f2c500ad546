/**
 * Publishes the subset: a Debian archive under the data directory's
 * `repo/public/debian/` (served at /repo/debian/), made by apt-ftparchive
 * (apt-utils): per suite `pool/<suite>/<arch>/` holds hard links to the
 * downloaded files plus the operator's own (`repo/local/`), the Packages
 * index, and a Release signed with Kiln's repo key (InRelease clear-signed,
 * Release.gpg detached, as apt and d-i read them). Built beside the live
 * tree and swapped in by one rename of a symbolic link (`swapArchive`), so a
 * reader sees the old or the new archive. Also writes the public key and, for debian-installer profiles,
 * the netboot kernel and an initrd carrying Kiln's keyring
 * (installer-keyring.ts).
 */
import { randomBytes } from 'node:crypto';
import { link, lstat, mkdir, readdir, readlink, rename, rm, stat, symlink, writeFile } from 'node:fs/promises';
import { basename, dirname, join, resolve } from 'node:path';
import { gzipSync } from 'node:zlib';
import { KilnError } from '../error/kiln-error.js';
import { execTool } from '../process/run-tool.js';
import { archiveFileName, poolFileName, type AptInstall } from './apt-simulation.js';
import { installerKeyring, publishInstallers, type PublishedInstaller } from './installer-files.js';
import type { RepoLayout } from './repo-layout.js';
import { writeRepoKeys, type RepoKey } from './repo-key.js';
import type { RepoTarget } from './repo-profile.js';

/** What was published for one suite and architecture. */
export interface PublishedSuite {
  suite: string;
  debArch: string;
  /** Packages in the subset's index (the closure plus operator packages). */
  packages: number;
  bytes: number;
  localPackages: number;
  /** udebs in the suite's main/debian-installer index. */
  udebs: number;
  /** debian-installer netboot files written for profiles of this suite (none when Debian's netboot package is missing). */
  installers: PublishedInstaller[];
}

/** Options of `publishRepo`. */
export interface PublishRepoOptions {
  layout: RepoLayout;
  key: RepoKey;
  /** Per suite: the closure, and upstream's Priority and Section per package name (written as apt-ftparchive's override file). */
  suites: {
    target: RepoTarget;
    packages: readonly AptInstall[];
    overrides: ReadonlyMap<string, { priority: string; section: string }>;
    /** debian-installer's udebs (files in the layout's udebArchives), with upstream's Priority and Section. */
    udebs?: { files: readonly string[]; overrides: ReadonlyMap<string, { priority: string; section: string }> };
  }[];
  installerImages: string;
  /** Keyrings appended after the members' keys in the installer's archive.gpg (the Debian archive keyring: upstream mirrors keep working). */
  extraKeyrings: readonly string[];
  /**
   * The other members' repo public keys, published after this member's own (`kiln serve` keeps the published keys
   * in step with the store: repo-trust.ts). @default none
   */
  memberKeys?: readonly Uint8Array[];
}

const toolEnv = () => ({ PATH: process.env['PATH'] ?? '/usr/bin:/bin', LANG: 'C', LC_ALL: 'C' });

async function run(cmd: string, args: readonly string[], cwd: string): Promise<string> {
  const r = await execTool(cmd, args, { cwd, env: toolEnv(), timeoutMs: 600_000 }).catch((err: Error) => {
    throw new KilnError('internal', `${cmd} could not run: ${err.message}; install apt-utils and dpkg (Debian)`);
  });
  if (r.code !== 0) throw new KilnError('internal', `${cmd} ${args.join(' ')} failed: ${r.stderr.trim().slice(-500)}`);
  return r.stdout;
}

/** The operator's packages (`repo/local/*.deb`) with their architecture. */
async function localPackages(dir: string): Promise<{ file: string; arch: string }[]> {
  const names = (await readdir(dir).catch(() => [] as string[])).filter((n) => n.endsWith('.deb')).sort();
  const out: { file: string; arch: string }[] = [];
  for (const n of names)
    out.push({ file: n, arch: (await run('dpkg-deb', ['-f', join(dir, n), 'Architecture'], dir)).trim() });
  return out;
}

/** Writes `dir/Release` for the suite's indexes (apt-ftparchive) and signs it: InRelease and Release.gpg. */
export async function writeRelease(dir: string, suite: string, archs: readonly string[], key: RepoKey): Promise<void> {
  const release = await run(
    'apt-ftparchive',
    [
      ...[
        'Origin=Kiln',
        'Label=Kiln repo subset',
        `Suite=${suite}`,
        `Codename=${suite}`,
        `Architectures=${archs.join(' ')}`,
        'Components=main',
        'Description=Packages the profiles install, with their dependency closure (kiln repo sync)',
      ].flatMap((o) => ['-o', `APT::FTPArchive::Release::${o}`]),
      'release',
      '.',
    ],
    dir,
  );
  await writeFile(join(dir, 'Release'), release);
  await key.signRelease(join(dir, 'Release'), join(dir, 'InRelease'), join(dir, 'Release.gpg'));
}

/**
 * The suite's `main/debian-installer/binary-<arch>/Packages` (what d-i's net-retriever and anna read), its udebs
 * in their own pool directory (apt-ftparchive indexes .udeb files too, so they stay out of the .deb pool).
 */
async function publishUdebs(
  build: string,
  layout: RepoLayout,
  target: RepoTarget,
  udebs: NonNullable<PublishRepoOptions['suites'][number]['udebs']>,
): Promise<number> {
  const pool = join('pool', target.suite, `${target.debArch}-udeb`);
  await mkdir(join(build, pool), { recursive: true });
  for (const f of udebs.files)
    await link(join(layout.udebArchives, f), join(build, pool, f.replace(/_\d+%3a/, '_'))).catch(
      (err: NodeJS.ErrnoException) => {
        if (err.code !== 'EEXIST') throw err;
      },
    );
  const override = join(layout.root, `override.${target.suite}.${target.debArch}.udeb`);
  await writeFile(override, [...udebs.overrides].map(([n, o]) => `${n} ${o.priority} ${o.section}\n`).join(''));
  const index = await run(
    'apt-ftparchive',
    ['--arch', target.debArch, '-o', 'APT::FTPArchive::Packages::Extensions=.udeb', 'packages', pool, override],
    build,
  );
  const dir = join(build, 'dists', target.suite, 'main', 'debian-installer', `binary-${target.debArch}`);
  await mkdir(dir, { recursive: true });
  await writeFile(join(dir, 'Packages'), index);
  await writeFile(join(dir, 'Packages.gz'), gzipSync(index, { level: 9 }));
  return index.split('\n').filter((l) => l.startsWith('Package: ')).length;
}

/**
 * Swaps a built archive tree in for the published one in one rename(2): `public/debian` is a symbolic link to the
 * tree (`.debian.tree-<random>`, inside the served root, so the served-path rule follows it), and a new link renamed
 * over it replaces it atomically: a reader opening a path sees the old tree or the new one, never none. The old tree
 * is removed after (a file already open stays readable). A `public/debian` that is still a directory (published
 * before this rule) is moved aside first, the one moment that path is missing.
 */
export async function swapArchive(layout: RepoLayout, build: string): Promise<void> {
  const id = randomBytes(4).toString('hex');
  const tree = join(layout.publicDir, `debian-tree-${id}`);
  await rename(build, tree);
  const before = await lstat(layout.archiveDir).catch((err: NodeJS.ErrnoException) => {
    if (err.code === 'ENOENT') return null;
    throw err;
  });
  let old: string | null = null;
  if (before?.isSymbolicLink()) {
    const target = resolve(layout.publicDir, await readlink(layout.archiveDir));
    // Only a tree this rule made is removed; a link the operator pointed elsewhere is left alone.
    if (dirname(target) === layout.publicDir && basename(target).startsWith('debian-tree-')) old = target;
  } else if (before) {
    old = join(layout.publicDir, `.debian.old-${id}`);
    await rename(layout.archiveDir, old);
  }
  const link = join(layout.publicDir, `.debian.link-${id}`);
  await symlink(basename(tree), link);
  await rename(link, layout.archiveDir);
  if (old && old !== tree) await rm(old, { recursive: true, force: true });
}

/** Publishes the suites; returns one entry per suite, in order. */
export async function publishRepo(opts: PublishRepoOptions): Promise<PublishedSuite[]> {
  const { layout, key } = opts;
  const build = join(layout.publicDir, '.debian.new');
  await rm(build, { recursive: true, force: true });
  await mkdir(build, { recursive: true });
  const local = await localPackages(layout.local);
  const out: PublishedSuite[] = [];
  const bySuite = new Map<string, string[]>();
  for (const { target, packages, overrides, udebs } of opts.suites) {
    const pool = join('pool', target.suite, target.debArch);
    await mkdir(join(build, pool), { recursive: true });
    let bytes = 0;
    for (const p of packages) {
      const dest = join(build, pool, poolFileName(p));
      await link(join(layout.archives, archiveFileName(p)), dest).catch((err: NodeJS.ErrnoException) => {
        if (err.code !== 'EEXIST') throw err;
      });
      bytes += (await stat(dest)).size;
    }
    const mine = local.filter((l) => l.arch === target.debArch || l.arch === 'all');
    for (const l of mine) {
      const dest = join(build, pool, l.file);
      await rm(dest, { force: true });
      await link(join(layout.local, l.file), dest);
      bytes += (await stat(dest)).size;
    }
    // The archive's Priority and Section, not the .deb's own: debootstrap takes the base system from the index's priorities.
    const override = join(layout.root, `override.${target.suite}.${target.debArch}`);
    await writeFile(override, [...overrides].map(([n, o]) => `${n} ${o.priority} ${o.section}\n`).join(''));
    const index = await run('apt-ftparchive', ['--arch', target.debArch, 'packages', pool, override], build);
    const binDir = join(build, 'dists', target.suite, 'main', `binary-${target.debArch}`);
    await mkdir(binDir, { recursive: true });
    await writeFile(join(binDir, 'Packages'), index);
    await writeFile(join(binDir, 'Packages.gz'), gzipSync(index, { level: 9 }));
    bySuite.set(target.suite, [...(bySuite.get(target.suite) ?? []), target.debArch]);
    const udebCount = udebs ? await publishUdebs(build, layout, target, udebs) : 0;
    out.push({
      suite: target.suite,
      debArch: target.debArch,
      packages: index.split('\n').filter((l) => l.startsWith('Package: ')).length,
      bytes,
      localPackages: mine.length,
      udebs: udebCount,
      installers: [],
    });
  }
  for (const [suite, archs] of bySuite) await writeRelease(join(build, 'dists', suite), suite, archs, key);
  await writeRepoKeys(layout.publicKey, layout.publicKeyArmored, [key.publicKey, ...(opts.memberKeys ?? [])]);
  await swapArchive(layout, build);
  // debian-installer profiles: Debian's netboot kernel, and its initrd with the members' keys appended.
  const keyring = await installerKeyring([key.publicKey, ...(opts.memberKeys ?? [])], opts.extraKeyrings);
  for (const [i, { target }] of opts.suites.entries())
    out[i].installers = await publishInstallers(
      layout,
      target.installerProfiles.map((p) => ({ ...p, debArch: target.debArch })),
      opts.installerImages,
      keyring,
    );
  return out;
}

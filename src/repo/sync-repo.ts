/**
 * `kiln repo sync`: for each suite and architecture the profiles name, apt's
 * own resolver computes every package set's closure (Depends, Pre-Depends
 * and Recommends, as debian-installer installs them) from the upstream
 * archive, apt downloads exactly those packages into one archives directory
 * (only what is not there yet; every file checked against the Packages index
 * whose InRelease verified with the Debian archive keyring), and a signed
 * subset archive is published under the data directory (publish-repo.ts).
 * ADR 0011 says why apt itself.
 */
import { readdir, readFile, stat, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { gunzipSync } from 'node:zlib';
import { KilnError } from '../error/kiln-error.js';
import { createAptRoot, type AptRoot } from './apt-root.js';
import { fetchVerified, parseAptUris, type AptUri } from './fetch-verified.js';
import { initrdKernelAbi } from './installer-keyring.js';
import { indexEntries, selectUdebs } from './udebs.js';
import { archiveFileName, parseAptSimulation, type AptInstall } from './apt-simulation.js';
import { installerSource } from './installer-files.js';
import { publishRepo, type PublishedSuite } from './publish-repo.js';
import { repoLayout, type RepoLayout } from './repo-layout.js';
import { openRepoKey } from './repo-key.js';
import { machineMirror } from './machine-mirror.js';
import { repoTargets, type RepoProfile, type RepoTarget } from './repo-profile.js';

/** The Debian archive keyring (debian-archive-keyring package): upstream InRelease files must verify with it. */
export const DEBIAN_ARCHIVE_KEYRING = '/usr/share/keyrings/debian-archive-keyring.gpg';

/** Options of `syncRepo`. */
export interface SyncRepoOptions {
  dataDir: string;
  profiles: readonly RepoProfile[];
  /** Keyring upstream InRelease files must verify with. @default DEBIAN_ARCHIVE_KEYRING */
  upstreamKeyring?: string;
  /** Where Debian's debian-installer-<version>-netboot-<arch> packages put their images. @default /usr/lib/debian-installer/images */
  installerImages?: string;
  now?: () => number;
}

/** What one suite's sync did. */
export interface SyncedSuite extends PublishedSuite {
  upstream: string;
  sets: { profile: string; variant: string; packages: number }[];
  downloaded: number;
  downloadedBytes: number;
  /** The whole upstream suite, from its Packages index (nothing of it downloaded). */
  suitePackages: number;
  suiteBytes: number;
  seconds: number;
  /** debian-installer's udebs: the initrd's kernel ABI, how many the subset wanted and got, and what upstream did not serve. */
  udebSync: UdebReport | null;
}

/** What a sync did with a suite's udebs (also written to the layout's udebRecord for `kiln repo check`). */
export interface UdebReport {
  /** The netboot initrd's kernel ABI (null: no debian-installer netboot package installed, no udebs taken). */
  kernelAbi: string | null;
  /** Names of the udebs wanted: every one for this ABI or for none. */
  wanted: string[];
  downloaded: number;
  downloadedBytes: number;
  /** Files the upstream archive did not serve (URL and reason). */
  missing: { file: string; url: string; reason: string }[];
}

interface UdebSync {
  report: UdebReport;
  files: string[];
  overrides: Map<string, { priority: string; section: string }>;
}

const DEFAULT_IMAGES = '/usr/lib/debian-installer/images';

async function aptUpdate(apt: AptRoot, what: string): Promise<void> {
  const update = await apt.aptGet(['update']);
  if (update.code !== 0 || /^(E|W): /m.test(update.output))
    throw new KilnError(
      'internal',
      `apt-get update of ${what} failed (its InRelease must verify with the Debian archive keyring): ${update.output.trim().slice(-800)}`,
    );
}

async function dumpavail(apt: AptRoot): Promise<string> {
  return (await apt.aptGet(['dumpavail'], { tool: 'apt-cache' })).stdout;
}

/** apt's download URIs (with the index's SHA256) for `names`' candidates, 500 names per apt run. */
async function printUris(apt: AptRoot, names: readonly string[]): Promise<AptUri[]> {
  const out: AptUri[] = [];
  for (let i = 0; i < names.length; i += 500) {
    const r = await apt.aptGet(['download', '--print-uris', ...names.slice(i, i + 500)]);
    if (r.code !== 0)
      throw new KilnError('internal', `apt-get download --print-uris failed: ${r.output.trim().slice(-500)}`);
    out.push(...parseAptUris(r.stdout));
  }
  return out;
}

/** The package a file in apt's archives directory holds (`name_version_arch.deb`, epoch as `%3a`). Pure. */
export function installOfFile(file: string): AptInstall {
  const [name = '', version = '', arch = ''] = file.replace(/\.u?deb$/, '').split('_');
  return { name, version: version.replace(/%3a/g, ':'), arch };
}

/**
 * debian-installer's udebs for the target: the netboot initrd's kernel ABI, a private apt on upstream's
 * main/debian-installer (verified like the suite), every udeb for that ABI or none, fetched with their hashes.
 * Files upstream does not serve are reported, not fatal (`kiln repo check` names them).
 */
async function syncUdebs(t: RepoTarget, layout: RepoLayout, keyring: string, images: string): Promise<UdebSync> {
  let abi: string | null = null;
  for (const p of t.installerProfiles) {
    const initrd = await readFile(join(installerSource(images, p.osVersion, t.debArch), 'initrd.gz')).catch(() => null);
    if (initrd) {
      abi = initrdKernelAbi(gunzipSync(initrd));
      break;
    }
  }
  const empty = { downloaded: 0, downloadedBytes: 0, missing: [] };
  if (!abi) return { report: { kernelAbi: null, wanted: [], ...empty }, files: [], overrides: new Map() };
  const apt = await createAptRoot(layout.aptDir(`${t.suite}-udeb`, t.debArch), [
    { url: t.upstream, suite: t.suite, debArch: t.debArch, keyring, component: 'main/debian-installer' },
  ]);
  await aptUpdate(apt, `${t.upstream} ${t.suite} main/debian-installer`);
  const wanted = selectUdebs(indexEntries(await dumpavail(apt)), abi);
  const uris = await printUris(
    apt,
    wanted.map((e) => e.name),
  );
  const got = await fetchVerified(uris, layout.udebArchives);
  const failed = new Set(got.failed.map((f) => f.file));
  const report: UdebReport = {
    kernelAbi: abi,
    wanted: wanted.map((e) => e.name).sort(),
    downloaded: got.fetched.length,
    downloadedBytes: got.fetched.reduce((n, f) => n + f.size, 0),
    missing: got.failed,
  };
  await writeFile(layout.udebRecord(t.suite, t.debArch), JSON.stringify(report, null, 2) + '\n');
  return {
    report,
    files: uris.filter((u) => !failed.has(u.file)).map((u) => u.file),
    overrides: new Map(wanted.map((e) => [e.name, { priority: e.priority, section: e.section }])),
  };
}

/**
 * Reads a Packages index (apt-cache dumpavail's output): its package count,
 * the sum of `Size:`, and each package's archive Priority and Section (the
 * archive's overrides, which a .deb's own control file may not carry:
 * debootstrap and `?priority(important)` read them from the index). Pure.
 */
export function readPackagesIndex(text: string): {
  packages: number;
  bytes: number;
  overrides: Map<string, { priority: string; section: string }>;
} {
  let packages = 0;
  let bytes = 0;
  const overrides = new Map<string, { priority: string; section: string }>();
  let name = '';
  let priority = '';
  let section = '';
  const flush = () => {
    if (name && priority && section) overrides.set(name, { priority, section });
    name = priority = section = '';
  };
  for (const line of text.split('\n')) {
    if (line.startsWith('Package: ')) {
      flush();
      packages += 1;
      name = line.slice(9).trim();
    } else if (line.startsWith('Size: ')) bytes += Number(line.slice(6));
    else if (line.startsWith('Priority: ')) priority = line.slice(10).trim();
    else if (line.startsWith('Section: ')) section = line.slice(9).trim();
  }
  flush();
  return { packages, bytes, overrides };
}

async function debFiles(dir: string): Promise<Map<string, number>> {
  const names = await readdir(dir).catch(() => [] as string[]);
  const out = new Map<string, number>();
  for (const n of names.filter((n) => n.endsWith('.deb'))) out.set(n, (await stat(join(dir, n))).size);
  return out;
}

/** Syncs every target the profiles name and publishes the subset. */
export async function syncRepo(opts: SyncRepoOptions): Promise<SyncedSuite[]> {
  const now = opts.now ?? Date.now;
  const layout = repoLayout(opts.dataDir);
  let targets;
  try {
    targets = repoTargets(opts.profiles, (suite) => machineMirror(suite));
  } catch (err) {
    throw new KilnError('profile_invalid', (err as Error).message);
  }
  if (targets.length === 0)
    throw new KilnError('not_found', 'no profile names a repo (profile.yaml `repo:` and `packages:`); nothing to sync');
  const key = await openRepoKey(layout.gnupg);
  try {
    const out: SyncedSuite[] = [];
    const udebResults = new Map<string, UdebSync>();
    const resolved = new Map<
      string,
      { packages: AptInstall[]; overrides: Map<string, { priority: string; section: string }> }
    >();
    for (const t of targets) {
      const started = now();
      const keyring = opts.upstreamKeyring ?? DEBIAN_ARCHIVE_KEYRING;
      // The suite and the suites merged into it (updates, security): apt's candidate is the newest across them.
      const apt = await createAptRoot(layout.aptDir(t.suite, t.debArch), [
        { url: t.upstream, suite: t.suite, debArch: t.debArch, keyring },
        ...t.extraSuites.map((x) => ({ url: x.upstream, suite: x.suite, debArch: t.debArch, keyring })),
      ]);
      await aptUpdate(apt, `${t.upstream} ${[t.suite, ...t.extraSuites.map((x) => x.suite)].join(' ')}`);
      const before = await debFiles(layout.archives);
      const closure = new Map<string, AptInstall>();
      const sets: SyncedSuite['sets'] = [];
      for (const s of t.sets) {
        const sim = parseAptSimulation((await apt.aptGet(['-s', 'install', ...s.packages])).output);
        if (sim.problems.length > 0 || sim.installs.length === 0)
          throw new KilnError(
            'profile_invalid',
            `profile ${s.profile} (${s.variant}): apt cannot install its packages from ${t.upstream} ${t.suite}: ${[...sim.problems, ...sim.missing.map((m) => `missing ${m}`)].join('; ') || 'nothing to install'}`,
          );
        for (const p of sim.installs) closure.set(archiveFileName(p), p);
        // apt downloads, into the shared archives directory, only what is not there yet, checking each file's hash.
        const dl = await apt.aptGet(['-y', '--download-only', 'install', ...s.packages], { archives: layout.archives });
        if (dl.code !== 0)
          throw new KilnError(
            'internal',
            `apt-get download for ${s.profile} (${s.variant}) failed: ${dl.output.trim().slice(-800)}`,
          );
        sets.push({ profile: s.profile, variant: s.variant, packages: sim.installs.length });
      }
      if (t.mode === 'full') {
        // Every package of the suite (each name's candidate across the merged suites), hash-checked against the index.
        const names = [...new Set(indexEntries(await dumpavail(apt)).map((e) => e.name))];
        const uris = await printUris(apt, names);
        const fullFetch = await fetchVerified(uris, layout.archives);
        if (fullFetch.failed.length > 0)
          throw new KilnError(
            'internal',
            `full mode: the upstream archive did not serve ${fullFetch.failed.length} files: ${fullFetch.failed
              .slice(0, 10)
              .map((f) => `${f.url} (${f.reason})`)
              .join(', ')}`,
          );
        for (const u of uris) closure.set(u.file, installOfFile(u.file));
      }
      const after = await debFiles(layout.archives);
      const missing = [...closure.keys()].filter((f) => !after.has(f));
      if (missing.length > 0)
        throw new KilnError(
          'internal',
          `apt did not download ${missing.slice(0, 10).join(', ')} into ${layout.archives}`,
        );
      const fresh = [...after].filter(([n]) => !before.has(n) && closure.has(n));
      const suite = readPackagesIndex(await dumpavail(apt));
      const udebs = t.udebs ? await syncUdebs(t, layout, keyring, opts.installerImages ?? DEFAULT_IMAGES) : null;
      if (udebs) udebResults.set(`${t.suite}/${t.debArch}`, udebs);
      resolved.set(`${t.suite}/${t.debArch}`, {
        packages: [...closure.values()],
        overrides: new Map(
          [...closure.values()].flatMap((p) => {
            const o = suite.overrides.get(p.name);
            return o ? [[p.name, o] as const] : [];
          }),
        ),
      });
      out.push({
        upstream: t.upstream,
        suite: t.suite,
        debArch: t.debArch,
        packages: closure.size,
        bytes: [...closure.keys()].reduce((n, f) => n + (after.get(f) ?? 0), 0),
        localPackages: 0,
        udebs: 0,
        udebSync: udebs?.report ?? null,
        installers: [],
        sets,
        downloaded: fresh.length,
        downloadedBytes: fresh.reduce((n, [, size]) => n + size, 0),
        suitePackages: suite.packages,
        suiteBytes: suite.bytes,
        seconds: 0,
      });
      out[out.length - 1].seconds = (now() - started) / 1000;
    }
    const published = await publishRepo({
      layout,
      key,
      suites: targets.map((t) => {
        const u = udebResults.get(`${t.suite}/${t.debArch}`);
        return {
          target: t,
          ...(resolved.get(`${t.suite}/${t.debArch}`) ?? { packages: [], overrides: new Map() }),
          ...(u ? { udebs: { files: u.files, overrides: u.overrides } } : {}),
        };
      }),
      installerImages: opts.installerImages ?? DEFAULT_IMAGES,
      extraKeyrings: [opts.upstreamKeyring ?? DEBIAN_ARCHIVE_KEYRING],
    });
    return out.map((s, i) => ({ ...s, ...published[i], bytes: s.bytes }));
  } finally {
    await key.close();
  }
}

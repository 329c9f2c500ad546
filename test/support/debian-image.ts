// Test support: the small real Debian image of the e2e tests, built by
// `kiln image build` (mmdebstrap from the Debian mirror this machine's apt
// uses) once and cached under $TMPDIR/kiln-test-cache/debian-image/<key>,
// where the key hashes what decides the result: suite, package set, variant,
// the mirror lines and SOURCE_DATE_EPOCH. A test copies the cached image store
// into its own data directory with hard links (objects are never written in
// place, so sharing them is safe). When the mirror does not answer, the
// caller gets a reason to skip instead of an image.
import { createHash } from 'node:crypto';
import { existsSync, mkdirSync, readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { execFileSync } from 'node:child_process';
import { mirrorLinesFor, readAptSources } from '../../src/image/build/debian-sources.js';
import { DEFAULT_SOURCE_DATE_EPOCH } from '../../src/image/build/build-image.js';
import { runKiln } from './serve-process.js';

/**
 * The package set: Debian's cloud kernel (virtio, ext4, bonding; a quarter of
 * linux-image-amd64's size), systemd as init with udev and dbus, sshd, and
 * iproute2, and curl (the heartbeat agent's client: without one its unit
 * fails every 10 s and the system is `degraded`). systemd-networkd comes with
 * systemd; the writer enables it.
 */
export const CI_DEBIAN_PACKAGES = [
  'curl',
  'dbus',
  'iproute2',
  'linux-image-cloud-amd64',
  'openssh-server',
  'systemd',
  'systemd-sysv',
  'udev',
] as const;
export const CI_DEBIAN_SUITE = 'bookworm';
export const CI_DEBIAN_IMAGE = 'ci-debian';

/** A cached image store: `imagesDir` holds image `name`; or why there is none. */
export type CiDebianImage =
  { name: string; imagesDir: string; cached: boolean; buildMs: number; key: string } | { skip: string };

/** The first mirror's Release file answers (HEAD, bounded). */
async function mirrorAnswers(line: string, suite: string): Promise<string | null> {
  const uri = /^deb (?:\[[^\]]*\] )?(\S+)/.exec(line)?.[1];
  if (!uri) return `no URI in ${line}`;
  const url = `${uri.replace(/\/$/, '')}/dists/${suite}/Release`;
  try {
    const res = await fetch(url, { method: 'HEAD', signal: AbortSignal.timeout(10_000) });
    return res.ok ? null : `${url} answered HTTP ${res.status}`;
  } catch (err) {
    return `${url}: ${(err as Error).message}`;
  }
}

function hasMmdebstrap(): boolean {
  try {
    execFileSync('sh', ['-c', 'command -v mmdebstrap'], { stdio: 'ignore' });
    return true;
  } catch {
    return false;
  }
}

/**
 * The CI image with mdadm and lvm2 added: their initramfs hooks assemble a
 * root on RAID 1 and LVM (test/e2e/deploy-mdlvm.int.test.ts). Another
 * package set, so another cache key.
 */
export const MDLVM_DEBIAN_PACKAGES = [...CI_DEBIAN_PACKAGES, 'lvm2', 'mdadm'] as const;
export const MDLVM_DEBIAN_IMAGE = 'ci-debian-mdlvm';

/**
 * Builds (or finds cached) the CI Debian image (or `name` from `packages`: the LUKS e2e adds cryptsetup and Clevis,
 * the md/LVM e2e mdadm and lvm2). Minutes on a cold cache; a second call is instant.
 */
export async function ciDebianImage(
  cacheRoot = process.env['KILN_TEST_CACHE'] ?? join(tmpdir(), 'kiln-test-cache'),
  packages: readonly string[] = CI_DEBIAN_PACKAGES,
  name: string = CI_DEBIAN_IMAGE,
): Promise<CiDebianImage> {
  let mirrors: string[];
  try {
    mirrors = mirrorLinesFor(readAptSources(), CI_DEBIAN_SUITE);
  } catch (err) {
    return { skip: `no Debian mirror in this machine's apt sources: ${(err as Error).message}` };
  }
  const key = createHash('sha256')
    .update(
      JSON.stringify({
        suite: CI_DEBIAN_SUITE,
        packages,
        variant: 'minbase',
        mirrors,
        epoch: DEFAULT_SOURCE_DATE_EPOCH,
        // The CI image's key stays what it was (its cached builds stay valid).
        ...(name !== CI_DEBIAN_IMAGE ? { name } : {}),
      }),
    )
    .digest('hex')
    .slice(0, 16);
  const dir = join(cacheRoot, 'debian-image', key);
  const done = join(dir, 'built.json');
  if (existsSync(done)) {
    const b = JSON.parse(readFileSync(done, 'utf8')) as { buildMs: number };
    return {
      name,
      imagesDir: join(dir, 'data', 'images'),
      cached: true,
      buildMs: b.buildMs,
      key,
    };
  }
  if (!hasMmdebstrap()) return { skip: 'needs mmdebstrap (scripts/install-debian-packages.sh)' };
  const down = await mirrorAnswers(mirrors[0]!, CI_DEBIAN_SUITE);
  if (down) return { skip: `the Debian mirror does not answer, so the image cannot be built: ${down}` };
  mkdirSync(join(cacheRoot, 'debian-image'), { recursive: true });
  const tmp = `${dir}.tmp-${process.pid}`;
  rmSync(tmp, { recursive: true, force: true });
  mkdirSync(join(tmp, 'data'), { recursive: true, mode: 0o700 });
  const t0 = Date.now();
  const r = await runKiln(
    [
      'image',
      'build',
      name,
      '--suite',
      CI_DEBIAN_SUITE,
      '--bare',
      '--packages',
      packages.join(','),
      '--data-dir',
      join(tmp, 'data'),
      '--json',
    ],
    {},
    1_500_000,
  );
  if (r.code !== 0) {
    rmSync(tmp, { recursive: true, force: true });
    // A mirror that went away mid-build is a skip, anything else a failure.
    const again = await mirrorAnswers(mirrors[0]!, CI_DEBIAN_SUITE);
    if (again) return { skip: `the Debian mirror stopped answering during the build: ${again}` };
    throw new Error(`kiln image build failed (exit ${r.code}):\n${r.stderr.slice(-4000)}`);
  }
  const buildMs = Date.now() - t0;
  writeFileSync(join(tmp, 'built.json'), JSON.stringify({ buildMs, result: JSON.parse(r.stdout) as unknown }));
  rmSync(join(tmp, 'data', 'cache'), { recursive: true, force: true });
  try {
    renameSync(tmp, dir);
  } catch {
    rmSync(tmp, { recursive: true, force: true }); // another run cached it first: use that one
  }
  return { name, imagesDir: join(dir, 'data', 'images'), cached: false, buildMs, key };
}

/** Puts the cached image store into a data directory's `images/` (hard links: instant, no copy). */
export function linkImagesInto(imagesDir: string, dataDir: string): void {
  mkdirSync(dataDir, { recursive: true, mode: 0o700 });
  execFileSync('cp', ['-al', imagesDir, join(dataDir, 'images')]);
}

// The repo's modes against a small upstream archive built in the test
// (test/support/fixture-archive.ts: dpkg-deb, apt-ftparchive, a throwaway
// signing key, served on loopback): `full` mode takes the whole suite;
// updates and security suites are merged into the resolution (the newest
// version wins); debian-installer's udebs are taken for the netboot initrd's
// kernel ABI only, a udeb upstream does not serve is reported and named by
// `kiln repo check`, and the check refuses an initrd of another ABI. Nothing
// leaves loopback.
import assert from 'node:assert/strict';
import { mkdtempSync, readdirSync, readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { fixtureArchive, fixtureInitrd, type FixtureArchive } from '../../test/support/fixture-archive.js';
import { checkRepo } from './check-repo.js';
import { repoLayout } from './repo-layout.js';
import type { RepoProfile } from './repo-profile.js';
import { syncRepo } from './sync-repo.js';

const ABI = '6.1.0-50-amd64';
const OLD_ABI = '6.1.0-47-amd64';

async function withFixture(fn: (f: FixtureArchive) => Promise<void>) {
  const f = await fixtureArchive(
    [
      {
        root: 'debian',
        suite: 'fixture',
        packages: [
          { name: 'alpha', version: '1.0', depends: 'beta (>= 1.0), gamma' },
          { name: 'beta', version: '1.0' },
          { name: 'gamma', version: '1.0' },
          { name: 'delta', version: '2:1.0' },
          { name: `kernel-image-${ABI}-di`, version: '1', udeb: true, priority: 'standard' },
          { name: `ext4-modules-${ABI}-di`, version: '1', udeb: true, priority: 'standard' },
          { name: `kernel-image-${OLD_ABI}-di`, version: '1', udeb: true, priority: 'standard' },
          { name: `ext4-modules-${OLD_ABI}-di`, version: '1', udeb: true, priority: 'standard' },
          { name: 'partman-ext3', version: '1', udeb: true, priority: 'standard' },
          { name: 'finish-install', version: '2.117', udeb: true, priority: 'required' },
        ],
      },
      { root: 'debian', suite: 'fixture-updates', packages: [{ name: 'beta', version: '1.1' }] },
      { root: 'security', suite: 'fixture-security', packages: [{ name: 'gamma', version: '1.0+sec1' }] },
    ],
    ABI,
  );
  try {
    await fn(f);
  } finally {
    await f.close();
  }
}

const pool = (data: string, sub = 'amd64') =>
  readdirSync(join(repoLayout(data).archiveDir, 'pool', 'fixture', sub)).sort();

test(
  'repo sync against a fixture upstream: updates and security merged, udebs for the initrd ABI, full mode',
  { timeout: 120_000 },
  async (t) => {
    await withFixture(async (f) => {
      const data = mkdtempSync(join(tmpdir(), 'kiln-repo-fixture-'));
      const dev = mkdtempSync(join(tmpdir(), 'kiln-repo-fixture-full-'));
      try {
        const di: RepoProfile = {
          name: 'di',
          osVersion: '12',
          installMethod: 'preseed',
          packages: ['alpha'],
          repo: {
            upstream: `${f.url}/debian`,
            suite: 'fixture',
            debArch: 'amd64',
            extraSuites: [
              { suite: 'fixture-updates', upstream: `${f.url}/debian` },
              { suite: 'fixture-security', upstream: `${f.url}/security` },
            ],
          },
        };
        const sync = (profiles: RepoProfile[], dataDir = data, keyring = f.keyring) =>
          syncRepo({ dataDir, profiles, upstreamKeyring: keyring, installerImages: f.images });

        // An upstream whose InRelease does not verify with the keyring given stops the sync.
        await assert.rejects(
          sync([di], data, '/usr/share/keyrings/debian-archive-keyring.gpg'),
          /InRelease must verify/,
        );

        // finish-install is in upstream's index but its file answers 404.
        f.hidden.add('/finish-install_2.117_amd64.udeb');
        let t0 = Date.now();
        const [s] = await sync([di]);
        t.diagnostic(`sync ${Date.now() - t0} ms: ${JSON.stringify(s)}`);
        // beta from the updates suite, gamma from the security suite (newest wins), delta (not needed) absent.
        assert.deepEqual(pool(data), ['alpha_1.0_amd64.deb', 'beta_1.1_amd64.deb', 'gamma_1.0+sec1_amd64.deb']);
        assert.equal(s!.packages, 3);
        assert.ok(f.requests.includes('200 /security/pool/fixture-security/deb/gamma_1.0+sec1_amd64.deb'));
        // udebs: this ABI and ABI-less ones, none of the other ABI; the 404 is reported with its URL.
        assert.deepEqual(pool(data, 'amd64-udeb'), [
          `ext4-modules-${ABI}-di_1_amd64.udeb`,
          `kernel-image-${ABI}-di_1_amd64.udeb`,
          'partman-ext3_1_amd64.udeb',
        ]);
        assert.equal(s!.udebs, 3);
        assert.equal(s!.udebSync?.kernelAbi, ABI);
        assert.deepEqual(s!.udebSync?.missing, [
          {
            file: 'finish-install_2.117_amd64.udeb',
            url: `${f.url}/debian/pool/fixture/udeb/finish-install_2.117_amd64.udeb`,
            reason: 'HTTP 404',
          },
        ]);
        // The published d-i index keeps upstream's Priority (anna loads by priority).
        const diIndex = readFileSync(
          join(repoLayout(data).archiveDir, 'dists/fixture/main/debian-installer/binary-amd64/Packages'),
          'utf8',
        );
        assert.match(diIndex, /^Package: partman-ext3\n(?:.*\n)*?Priority: standard$/m);

        // The check: the package set installs; the udebs lack finish-install, named.
        let r = await checkRepo({ dataDir: data, profiles: [di] });
        const udebs = () => r.sets.find((x) => x.variant === 'udebs')!;
        assert.equal(r.sets.find((x) => x.variant === 'default')?.ok, true);
        assert.equal(udebs().ok, false);
        assert.deepEqual(udebs().missing, ['finish-install']);

        // Upstream serves it again: the re-sync downloads exactly that one file, and the check passes.
        f.hidden.clear();
        t0 = Date.now();
        const [s2] = await sync([di]);
        t.diagnostic(`re-sync ${Date.now() - t0} ms: ${s2!.downloaded} debs, ${s2!.udebSync?.downloaded} udebs new`);
        assert.equal(s2!.downloaded, 0);
        assert.equal(s2!.udebSync?.downloaded, 1);
        assert.equal(s2!.udebs, 4);
        r = await checkRepo({ dataDir: data, profiles: [di] });
        assert.equal(r.ok, true, JSON.stringify(r.sets));
        assert.deepEqual(udebs(), {
          profile: 'di',
          variant: 'udebs',
          suite: 'fixture',
          debArch: 'amd64',
          ok: true,
          packages: 4,
          missing: [],
          problems: [],
        });

        // The initrd Kiln serves is for another ABI than the subset's udebs: the check refuses it.
        const served = join(repoLayout(data).installerDir('di'), 'initrd.gz');
        writeFileSync(`${served}.new`, fixtureInitrd('6.1.0-99-amd64'));
        renameSync(`${served}.new`, served);
        r = await checkRepo({ dataDir: data, profiles: [di] });
        assert.equal(udebs().ok, false);
        assert.deepEqual(udebs().problems, [
          `kernel ABI mismatch: the netboot initrd is 6.1.0-99-amd64, the subset's udebs carry ${ABI}`,
        ]);

        // full mode: the whole suite (delta too, with its epoch), not only alpha's closure; a re-sync fetches nothing.
        const full: RepoProfile = {
          name: 'dev',
          osVersion: '12',
          installMethod: 'kiln-image',
          packages: ['alpha'],
          repo: { upstream: `${f.url}/debian`, suite: 'fixture', debArch: 'amd64', mode: 'full' },
        };
        // A file whose bytes are not the signed index's is refused, named with its URL.
        f.tampered.add('/delta_1.0_amd64.deb');
        await assert.rejects(
          sync([full], dev),
          /full mode: the upstream archive did not serve 1 files: \S+\/delta_1.0_amd64.deb \(sha512 [0-9a-f]+ \(\d+ bytes\) is not the index's\)/,
        );
        f.tampered.clear();
        const [fs1] = await sync([full], dev);
        assert.deepEqual(pool(dev), [
          'alpha_1.0_amd64.deb',
          'beta_1.0_amd64.deb',
          'delta_1.0_amd64.deb',
          'gamma_1.0_amd64.deb',
        ]);
        assert.equal(fs1!.packages, fs1!.suitePackages);
        assert.equal(fs1!.downloaded, 1, 'alpha, beta and gamma were fetched by the refused sync');
        assert.equal(fs1!.udebSync, null, 'not a debian-installer profile: no udebs');
        const [fs2] = await sync([full], dev);
        assert.equal(fs2!.downloaded, 0);
        const fr = await checkRepo({ dataDir: dev, profiles: [{ ...full, packages: ['delta'] }] });
        assert.equal(fr.ok, true, JSON.stringify(fr.sets));
      } finally {
        rmSync(data, { recursive: true, force: true });
        rmSync(dev, { recursive: true, force: true });
      }
    });
  },
);

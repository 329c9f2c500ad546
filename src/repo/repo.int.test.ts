// The repo subset end to end, reduced for CI (issue 18): a one-package profile
// (hello: its closure is 6 packages, 3.5 MB) synced from the upstream archive
// the shipped debian-12 profile names, checked, served by a real `kiln serve`
// on loopback and installed from by a real apt over HTTP against Kiln's served
// key. What it downloads (apt lists and .debs) is cached under
// $TMPDIR/kiln-test-cache/repo, so a re-run fetches only what changed upstream.
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import {
  cpSync,
  existsSync,
  mkdirSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  rmSync,
  statSync,
  writeFileSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { gunzipSync, gzipSync } from 'node:zlib';
import { test } from 'node:test';
import { parse as parseYaml } from 'yaml';
import { runKiln, startServe } from '../../test/support/serve-process.js';
import { createAptRoot } from './apt-root.js';
import { machineMirror } from './machine-mirror.js';
import { parseAptSimulation } from './apt-simulation.js';
import { DI_KEYRING_PATH } from './installer-keyring.js';
import { writeRelease } from './publish-repo.js';
import { repoLayout } from './repo-layout.js';
import { openRepoKey } from './repo-key.js';

const repoRoot = new URL('../../', import.meta.url).pathname;
const shipped = parseYaml(readFileSync(join(repoRoot, 'profiles/debian-12/profile.yaml'), 'utf8')) as {
  repo: { suite: string; debArch: string };
};
const cache = join(tmpdir(), 'kiln-test-cache', 'repo');
const diImages = '/usr/lib/debian-installer/images/12/amd64/text/debian-installer/amd64';

function tinyProfiles(): string {
  const dir = mkdtempSync(join(tmpdir(), 'kiln-repo-profiles-'));
  cpSync(join(repoRoot, 'profiles/_snippets'), join(dir, '_snippets'), { recursive: true });
  mkdirSync(join(dir, 'tiny'));
  const { suite, debArch } = shipped.repo;
  writeFileSync(
    join(dir, 'tiny/profile.yaml'),
    [
      'name: tiny',
      'description: one small package and its closure',
      'os: { family: debian, version: "12" }',
      'arch: x86_64',
      'install: { method: preseed }',
      'boot: { kernel: "{{ kiln.baseUrl }}/repo/installer/tiny/linux", initrd: [], cmdline: "" }',
      'files: []',
      'packages: [hello]',
      `repo: { suite: ${suite}, debArch: ${debArch}, udebs: false }`,
      '',
    ].join('\n'),
  );
  return dir;
}

const sh = (cmd: string, args: string[], input?: Buffer) =>
  execFileSync(cmd, args, { input, stdio: ['pipe', 'pipe', 'pipe'], maxBuffer: 256 << 20 });

test(
  'kiln repo sync/check/add: a signed subset with its closure, served at /repo/ and installable by apt over HTTP',
  { timeout: 170_000 },
  async (t) => {
    const data = mkdtempSync(join(tmpdir(), 'kiln-repo-data-'));
    const profiles = tinyProfiles();
    const debDir = mkdtempSync(join(tmpdir(), 'kiln-repo-deb-'));
    try {
      const layout = repoLayout(data);
      const env = { KILN_DATA_DIR: data, KILN_PROFILES_DIR: profiles };
      for (const d of ['apt', 'archives'])
        if (existsSync(join(cache, d))) cpSync(join(cache, d), join(layout.root, d), { recursive: true });
      const cachedDebs = new Set(existsSync(join(cache, 'archives')) ? readdirSync(join(cache, 'archives')) : []);

      let t0 = Date.now();
      const sync = await runKiln(['repo', 'sync', '--json'], env, 150_000);
      assert.equal(sync.code, 0, sync.stderr);
      const [suite] = JSON.parse(sync.stdout) as Array<Record<string, number | string | unknown[]>>;
      t.diagnostic(`sync ${Date.now() - t0} ms: ${JSON.stringify({ ...suite, installers: undefined })}`);
      for (const d of ['apt', 'archives']) cpSync(join(layout.root, d), join(cache, d), { recursive: true });
      assert.equal(suite!['suite'], shipped.repo.suite);
      const pool = readdirSync(join(layout.archiveDir, 'pool', shipped.repo.suite, shipped.repo.debArch));
      for (const p of ['hello_', 'libc6_', 'libgcc-s1_', 'gcc-12-base_'])
        assert.ok(
          pool.some((f) => f.startsWith(p)),
          `${p} in ${pool.join(' ')}`,
        );
      assert.equal(suite!['packages'], pool.length, 'the index lists exactly the pool');
      assert.ok(
        (suite!['suitePackages'] as number) > 10 * pool.length,
        'the whole suite, counted from its index, is far larger',
      );
      assert.equal(suite!['downloaded'], pool.filter((f) => !cachedDebs.has(f.replace(/_\d+:/, '_'))).length);
      // Each package's Priority and Section in the subset's index are upstream's (the archive's overrides).
      const upstreamApt = await createAptRoot(layout.aptDir(shipped.repo.suite, shipped.repo.debArch), [
        {
          url: machineMirror(shipped.repo.suite)!,
          suite: shipped.repo.suite,
          debArch: shipped.repo.debArch,
          keyring: '/usr/share/keyrings/debian-archive-keyring.gpg',
        },
      ]);
      const fields = (stanza: string) =>
        ['Package', 'Version', 'Priority', 'Section'].map((f) => new RegExp(`^${f}: (.*)$`, 'm').exec(stanza)?.[1]);
      const indexText = readFileSync(
        join(layout.archiveDir, 'dists', shipped.repo.suite, 'main', `binary-${shipped.repo.debArch}`, 'Packages'),
        'utf8',
      );
      for (const stanza of indexText.split('\n\n').filter((x) => x.trim() !== '')) {
        const [name, version, priority, section] = fields(stanza);
        const upstream = (await upstreamApt.aptGet(['show', `${name}=${version}`], { tool: 'apt-cache' })).stdout;
        assert.deepEqual([priority, section], fields(upstream).slice(2), `${name}: Priority and Section as upstream`);
      }
      // The signing key stays in the data directory: GNUPGHOME 0700, secret key files 0600; only the public key is published.
      assert.equal(statSync(layout.gnupg).mode & 0o777, 0o700);
      const secrets = readdirSync(join(layout.gnupg, 'private-keys-v1.d'));
      assert.ok(
        secrets.length > 0 &&
          secrets.every((f) => (statSync(join(layout.gnupg, 'private-keys-v1.d', f)).mode & 0o077) === 0),
      );
      assert.deepEqual(
        readdirSync(layout.publicDir)
          .map((n) => n.replace(/^debian-tree-[0-9a-f]{8}$/, 'debian-tree-*'))
          .sort(),
        // debian: a link to the live tree (publish-repo.ts swapArchive)
        ['debian', 'debian-tree-*', 'installer', 'kiln-repo.asc', 'kiln-repo.gpg'].filter(
          (n) => n !== 'installer' || existsSync(diImages),
        ),
      );

      const check = await runKiln(['repo', 'check'], env, 60_000);
      assert.equal(check.code, 0, check.stderr);
      assert.match(check.stdout, /^tiny\s+default\s+bookworm\s+yes\s+6\b/m);

      // An operator package survives the next sync, which downloads nothing new.
      mkdirSync(join(debDir, 'pkg/DEBIAN'), { recursive: true });
      writeFileSync(
        join(debDir, 'pkg/DEBIAN/control'),
        'Package: kiln-site-tools\nVersion: 1.0\nArchitecture: all\nMaintainer: ops <ops@localhost>\nDepends: hello\nDescription: site tools\n',
      );
      sh('dpkg-deb', ['--root-owner-group', '-b', join(debDir, 'pkg'), join(debDir, 'kiln-site-tools_1.0_all.deb')]);
      const add = await runKiln(['repo', 'add', join(debDir, 'kiln-site-tools_1.0_all.deb')], env);
      assert.equal(add.code, 0, add.stderr);
      t0 = Date.now();
      const again = await runKiln(['repo', 'sync', '--json'], env, 150_000);
      assert.equal(again.code, 0, again.stderr);
      const [s2] = JSON.parse(again.stdout) as Array<Record<string, number>>;
      t.diagnostic(`re-sync ${Date.now() - t0} ms: ${s2!['downloaded']} new downloads`);
      assert.equal(s2!['downloaded'], 0, 're-sync downloads nothing already there');
      assert.equal(s2!['localPackages'], 1);
      assert.equal(s2!['packages'], pool.length + 1);

      const serve = await startServe(['--data-dir', data, '--profiles-dir', profiles], {}, 60_000);
      try {
        // The served public key verifies the served Release (both signatures) with gpgv.
        const keyring = join(debDir, 'served-key.gpg');
        writeFileSync(keyring, Buffer.from(await (await fetch(`${serve.url}/repo/kiln-repo.gpg`)).arrayBuffer()));
        const dists = `${serve.url}/repo/debian/dists/${shipped.repo.suite}`;
        const inRelease = join(debDir, 'InRelease');
        writeFileSync(inRelease, Buffer.from(await (await fetch(`${dists}/InRelease`)).arrayBuffer()));
        writeFileSync(join(debDir, 'Release'), Buffer.from(await (await fetch(`${dists}/Release`)).arrayBuffer()));
        writeFileSync(
          join(debDir, 'Release.gpg'),
          Buffer.from(await (await fetch(`${dists}/Release.gpg`)).arrayBuffer()),
        );
        sh('gpgv', ['--keyring', keyring, inRelease]);
        sh('gpgv', ['--keyring', keyring, join(debDir, 'Release.gpg'), join(debDir, 'Release')]);
        // Real apt over HTTP from kiln serve, checking Kiln's key (no trusted=yes): update and install the closure.
        const source = { url: `${serve.url}/repo/debian`, suite: shipped.repo.suite, debArch: shipped.repo.debArch };
        const apt = await createAptRoot(join(debDir, 'apt'), [{ ...source, keyring }]);
        const update = await apt.aptGet(['update']);
        assert.equal(update.code, 0, update.output);
        assert.doesNotMatch(update.output, /^(W|E): /m);
        const sim = parseAptSimulation((await apt.aptGet(['-s', 'install', 'kiln-site-tools'])).output);
        assert.deepEqual(sim.problems, []);
        assert.deepEqual(sim.installs.map((i) => i.name).sort(), [
          'gcc-12-base',
          'hello',
          'kiln-site-tools',
          'libc6',
          'libgcc-s1',
          'libidn2-0',
          'libunistring2',
        ]);
        const dl = await apt.aptGet(['-y', '--download-only', 'install', 'hello']);
        assert.equal(dl.code, 0, dl.output);
        // The same subset against another key (Debian's) is refused: apt really checks the signature.
        const other = await createAptRoot(join(debDir, 'apt-other'), [
          { ...source, keyring: '/usr/share/keyrings/debian-archive-keyring.gpg' },
        ]);
        const refused = await other.aptGet(['update']);
        assert.match(refused.output, /NO_PUBKEY|not signed|signatures couldn't be verified/);
        // The API route answers the same check (viewer).
        const token = readFileSync(join(data, 'admin-token'), 'utf8').trim();
        const api = (await (
          await fetch(`${serve.url}/api/v1/repo/check`, { headers: { authorization: `Bearer ${token}` } })
        ).json()) as {
          ok: boolean;
          sets: { profile: string; ok: boolean; packages: number }[];
        };
        assert.deepEqual(api, {
          ok: true,
          sets: [
            {
              profile: 'tiny',
              variant: 'default',
              suite: 'bookworm',
              debArch: 'amd64',
              ok: true,
              packages: 6,
              missing: [],
              problems: [],
            },
          ],
        });
        assert.equal((await fetch(`${serve.url}/api/v1/repo/check`)).status, 401);
      } finally {
        serve.child.kill('SIGTERM');
        await serve.exited;
      }

      // One dependency removed from the published index (re-signed, so only the closure is wrong): the check fails naming it.
      const binDir = join(layout.archiveDir, 'dists', shipped.repo.suite, 'main', `binary-${shipped.repo.debArch}`);
      const stanzas = readFileSync(join(binDir, 'Packages'), 'utf8')
        .split('\n\n')
        .filter((s) => s.trim() !== '');
      const without = stanzas.filter((s) => !s.startsWith('Package: libc6\n')).join('\n\n') + '\n';
      assert.equal(without.split('Package: ').length - 1, stanzas.length - 1);
      writeFileSync(join(binDir, 'Packages'), without);
      writeFileSync(join(binDir, 'Packages.gz'), gzipSync(without));
      const key = await openRepoKey(layout.gnupg);
      try {
        await writeRelease(
          join(layout.archiveDir, 'dists', shipped.repo.suite),
          shipped.repo.suite,
          [shipped.repo.debArch],
          key,
        );
      } finally {
        await key.close();
      }
      const broken = await runKiln(['repo', 'check', '--json'], env, 60_000);
      assert.equal(broken.code, 1, broken.stderr);
      const r = JSON.parse(broken.stdout) as { ok: boolean; sets: { missing: string[]; problems: string[] }[] };
      assert.equal(r.ok, false);
      assert.deepEqual(r.sets[0]!.missing, ['libc6']);
      assert.match(r.sets[0]!.problems.join('\n'), /hello : Depends: libc6/);
      assert.match(broken.stderr, /cannot install tiny\/default \(missing libc6\); run `kiln repo sync`$/m);

      // debian-installer's netboot initrd (Debian's package), with Kiln's keyring appended as its own cpio archive.
      if (!existsSync(diImages)) {
        t.diagnostic('debian-installer-12-netboot-amd64 is not installed: installer files not checked');
        return;
      }
      const [installer] = suite!['installers'] as { profile: string; kernelAbi: string }[];
      assert.equal(installer!.profile, 'tiny');
      // anna loads only udebs of this ABI (the udebs themselves are not in the subset yet).
      assert.match(installer!.kernelAbi, /^\d+\.\d+\.\d+-\d+-amd64$/);
      const original = readFileSync(join(diImages, 'initrd.gz'));
      const served = readFileSync(join(layout.installerDir('tiny'), 'initrd.gz'));
      assert.ok(served.subarray(0, original.length).equals(original), "Debian's initrd comes first, unchanged");
      const tail = served.subarray(original.length);
      const cpioBytes = gunzipSync(tail);
      assert.deepEqual(sh('cpio', ['-t', '--quiet'], cpioBytes).toString().trim().split('\n'), [
        'usr',
        'usr/share',
        'usr/share/keyrings',
        DI_KEYRING_PATH,
      ]);
      const unpack = join(debDir, 'cpio');
      mkdirSync(unpack);
      execFileSync('cpio', ['-id', '--quiet'], { input: cpioBytes, cwd: unpack });
      // The keyring d-i's gpgv reads verifies the subset's Release.gpg, as net-retriever runs it.
      const rel = join(layout.archiveDir, 'dists', shipped.repo.suite);
      sh('gpgv', ['--keyring', join(unpack, DI_KEYRING_PATH), join(rel, 'Release.gpg'), join(rel, 'Release')]);
      assert.ok(readFileSync(join(layout.installerDir('tiny'), 'linux')).equals(readFileSync(join(diImages, 'linux'))));
    } finally {
      for (const d of [data, profiles, debDir]) rmSync(d, { recursive: true, force: true });
    }
  },
);

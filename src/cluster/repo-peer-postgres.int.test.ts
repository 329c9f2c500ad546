// The repo subset between members for real (docs/repo.md, "Members"; ADR 0017): two `kiln serve` on one PostgreSQL
// (loopback). A's subset is synced in the test from a small upstream archive on loopback (test/support/fixture-
// archive.ts: three packages and two udebs); A registers its repo public key in the store at start. B (no repo of
// its own) re-publishes A's subset through `kiln repo sync --from-peer a`: A's InRelease checked by the real gpgv
// with A's key from the store, every index and package by SHA-256. A .deb altered on A (same length) and an InRelease
// altered on A are refused with their error codes and nothing published; then the sync goes through, B's Release is
// A's text signed by B's key alone (gpgv), and a real apt that trusts only B's key updates from B and resolves the
// closure. Both members' `/repo/kiln-repo.asc` and installer keyrings (the netboot initrd's appended archive.gpg)
// carry both members' keys once B registered its own. Then the background sync (cluster.repoSync): A publishes anew
// and B, restarted with it on, serves A's newer subset without any command (apt trusting only B's key verifies it);
// A's older snapshot put back is neither taken in the background nor by an explicit sync (peer_release_older).
// Fails, does not skip, when the local PostgreSQL is down.
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import {
  copyFileSync,
  cpSync,
  existsSync,
  mkdirSync,
  mkdtempSync,
  readFileSync,
  realpathSync,
  rmSync,
  writeFileSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { gunzipSync } from 'node:zlib';
import { after, test } from 'node:test';
import pg from 'pg';
import { fixtureArchive, type FixtureArchive } from '../../test/support/fixture-archive.js';
import { createTempPostgres, type TempPostgres } from '../../test/support/postgres.js';
import { runKiln, startServe, type ServeProcess } from '../../test/support/serve-process.js';
import { killChild, stopChild } from '../../test/support/process.js';
import { createAptRoot } from '../repo/apt-root.js';
import { parseAptSimulation } from '../repo/apt-simulation.js';
import { DI_KEYRING_PATH } from '../repo/installer-keyring.js';
import { installerSource } from '../repo/installer-files.js';
import { parsePublicKeys } from '../repo/openpgp-keyring.js';
import { swapArchive } from '../repo/publish-repo.js';
import { repoLayout } from '../repo/repo-layout.js';
import type { RepoProfile } from '../repo/repo-profile.js';
import { syncRepo } from '../repo/sync-repo.js';

const ABI = '6.1.0-50-amd64';
const DI_IMAGES = '/usr/lib/debian-installer/images';
const work = mkdtempSync(join(tmpdir(), 'kiln-repo-peer-'));
const serves: ServeProcess[] = [];
let database: TempPostgres | undefined;
let fixture: FixtureArchive | undefined;
after(async () => {
  for (const s of serves) killChild(s.child);
  await database?.drop();
  await fixture?.close();
  rmSync(work, { recursive: true, force: true });
});

const repoRoot = new URL('../../', import.meta.url).pathname;
const sh = (cmd: string, args: string[], input?: Buffer | string) =>
  execFileSync(cmd, args, { input, stdio: ['pipe', 'pipe', 'pipe'], maxBuffer: 256 << 20 });

/** The fingerprints in a keyring, as the real gpg lists them. */
function fingerprints(keyring: Buffer | string): string[] {
  const home = mkdtempSync(join(work, 'gpg-'));
  const out = sh('gpg', ['--homedir', home, '--batch', '--with-colons', '--show-keys'], keyring).toString();
  return [...out.matchAll(/^pub:(?:.*\n)+?fpr:+([0-9A-F]{40}):/gm)].map((m) => m[1]!);
}

/** The archive.gpg of the keyring cpio appended to a published initrd after Debian's own initrd (`debian`). */
function installerKeys(published: Buffer, debian: Buffer): string[] {
  assert.deepEqual(published.subarray(0, debian.length), debian, "Debian's initrd comes first, unchanged");
  const cpio = gunzipSync(published.subarray(debian.length));
  const ring = sh('cpio', ['-i', '--quiet', '--to-stdout', DI_KEYRING_PATH], cpio);
  return fingerprints(ring);
}

async function get(url: string): Promise<{ status: number; body: Buffer }> {
  const res = await fetch(url, { signal: AbortSignal.timeout(10_000) });
  return { status: res.status, body: Buffer.from(await res.arrayBuffer()) };
}

/** Waits (bounded) until `check` holds. */
async function until(what: string, check: () => Promise<boolean>, ms = 15_000): Promise<void> {
  for (const end = Date.now() + ms; Date.now() < end; await new Promise((r) => setTimeout(r, 200)))
    if (await check()) return;
  throw new Error(`${what}: not within ${ms} ms`);
}

test(
  "a member re-publishes a peer's repo subset under its own key, every file verified; a tampered .deb and InRelease are refused",
  { timeout: 180_000 },
  async (t) => {
    const t0 = Date.now();
    fixture = await fixtureArchive(
      [
        {
          root: 'debian',
          suite: 'fixture',
          packages: [
            { name: 'alpha', version: '1.0', depends: 'beta (>= 1.0), gamma' },
            { name: 'beta', version: '1.0' },
            { name: 'gamma', version: '2:1.0' },
            { name: `kernel-image-${ABI}-di`, version: '1', udeb: true, priority: 'standard' },
            { name: 'partman-ext3', version: '1', udeb: true, priority: 'standard' },
          ],
        },
      ],
      ABI,
    );
    const f = fixture;
    const profile: RepoProfile = {
      name: 'di',
      osVersion: '12',
      installMethod: 'preseed',
      packages: ['alpha'],
      repo: { upstream: `${f.url}/debian`, suite: 'fixture', debArch: 'amd64' },
    };
    const profiles = join(work, 'profiles');
    cpSync(join(repoRoot, 'profiles/_snippets'), join(profiles, '_snippets'), { recursive: true });
    mkdirSync(join(profiles, 'di'));
    writeFileSync(
      join(profiles, 'di/profile.yaml'),
      [
        'name: di',
        'description: one fixture package, installed by debian-installer',
        'os: { family: debian, version: "12" }',
        'arch: x86_64',
        'install: { method: preseed }',
        'boot: { kernel: "{{ kiln.baseUrl }}/repo/installer/di/linux", initrd: [], cmdline: "" }',
        'files: []',
        'packages: [alpha]',
        `repo: { upstream: "${f.url}/debian", suite: fixture, debArch: amd64 }`,
        '',
      ].join('\n'),
    );
    const dirA = join(work, 'a');
    const dirB = join(work, 'b');
    mkdirSync(dirA, { mode: 0o700 });
    mkdirSync(dirB, { mode: 0o700 });
    // A's subset, from the fixture upstream (A's installer from the fixture's netboot tree, whose ABI has the udebs).
    await syncRepo({ dataDir: dirA, profiles: [profile], upstreamKeyring: f.keyring, installerImages: f.images });
    const keyA = parsePublicKeys(readFileSync(repoLayout(dirA).ownPublicKey))[0]!.fingerprint;
    t.diagnostic(`A synced its subset after ${Date.now() - t0} ms (key ${keyA})`);

    database = await createTempPostgres('repo_peer');
    // Background sync off at first: the explicit `--from-peer` path is tested alone; B restarts with it on below.
    const configOf = (name: string, repoSync = false) => {
      const file = join(work, `${name}.yaml`);
      writeFileSync(
        file,
        `cluster: { name: ${name}, heartbeatSeconds: 1, electionMs: 500, staleSeconds: 4, repoSync: ${repoSync} }\n`,
      );
      return file;
    };
    const common = ['--database-url', database.url, '--profiles-dir', profiles];
    const env = { KILN_LOG_LEVEL: 'info' };
    const a = await startServe(['--data-dir', dirA, '--config', configOf('a'), ...common], env);
    serves.push(a);
    // Members share the store's data key (kiln controller join wraps it: join-postgres.int.test.ts); B keeps its own CAs.
    copyFileSync(join(dirA, 'data.key'), join(dirB, 'data.key'));
    let b = await startServe(['--data-dir', dirB, '--config', configOf('b'), ...common], env);
    serves.push(b);
    t.diagnostic(`both members up after ${Date.now() - t0} ms`);
    const db = new pg.Client({ connectionString: database.url });
    await db.connect();
    const storedKeys = async () =>
      (
        await db.query<{ name: string; repo_key_fingerprint: string | null }>(
          'select name, repo_key_fingerprint from member_cas order by name',
        )
      ).rows.map((r) => [r.name, r.repo_key_fingerprint]);
    const cli = (args: string[]) =>
      runKiln(
        ['repo', 'sync', ...args],
        // One store, one admin: A's first admin token is good on B.
        { KILN_SERVER: b.url, KILN_TOKEN: readFileSync(join(dirA, 'admin-token'), 'utf8').trim() },
        60_000,
      );
    try {
      await until('A registered its repo key', async () =>
        (await storedKeys()).some(([n, k]) => n === 'a' && k === keyA),
      );
      assert.deepEqual(await storedKeys(), [
        ['a', keyA],
        ['b', null],
      ]);
      const layoutA = repoLayout(dirA);
      const layoutB = repoLayout(dirB);

      // A .deb on A altered after A published it (same length): B refuses, naming it; nothing is published on B.
      const deb = join(layoutA.archiveDir, 'pool/fixture/amd64/gamma_1.0_amd64.deb');
      const good = readFileSync(deb);
      const bad = Buffer.from(good);
      bad[bad.length - 10]! ^= 0xff;
      writeFileSync(deb, bad);
      const refused = await cli(['--from-peer', 'a']);
      assert.equal(refused.code, 1, refused.stdout);
      assert.match(
        refused.stderr,
        /pool\/fixture\/amd64\/gamma_1\.0_amd64\.deb.*not the \d+ bytes with SHA-256 [0-9a-f]{64} its signed index names; refused \[peer_content_invalid\]/,
      );
      assert.equal(existsSync(layoutB.archiveDir), false, 'nothing published on B');
      assert.equal((await get(`${b.url}/repo/debian/dists/fixture/InRelease`)).status, 404);
      writeFileSync(deb, good);

      // A's InRelease altered (one signed line changed): refused by gpgv with A's key.
      const inReleaseA = join(layoutA.archiveDir, 'dists/fixture/InRelease');
      const signed = readFileSync(inReleaseA, 'utf8');
      writeFileSync(inReleaseA, signed.replace('Origin: Kiln', 'Origin: Kilo'));
      const forged = await cli(['--from-peer', 'a']);
      assert.equal(forged.code, 1);
      assert.match(
        forged.stderr,
        /dists\/fixture\/InRelease does not verify with the peer's repo key .* \[peer_signature_invalid\]/,
      );
      writeFileSync(inReleaseA, signed);
      assert.equal((await cli(['--from-peer', 'nobody'])).code, 3, 'no such member: not_found');

      // Now it goes through: every file verified, the tree re-signed by B.
      let t1 = Date.now();
      const synced = await cli(['--from-peer', 'a', '--json']);
      assert.equal(synced.code, 0, synced.stderr);
      const report = JSON.parse(synced.stdout) as {
        peer: string;
        peerKey: string;
        suites: Array<{ suite: string; indexes: number; packages: number }>;
        fetched: number;
        installers: Array<{ profile: string }>;
      };
      t.diagnostic(`sync from A ${Date.now() - t1} ms: ${JSON.stringify(report)}`);
      assert.equal(report.peer, 'a');
      assert.equal(report.peerKey, keyA);
      assert.deepEqual(
        report.suites.map((s) => [s.suite, s.packages]),
        [['fixture', 5]],
        'alpha, beta, gamma and the two udebs',
      );
      assert.ok(
        report.fetched >= 1 && report.fetched < 5,
        'the altered file again, and the files the refused sync had verified were kept by their SHA-256',
      );
      await until('B registered its repo key', async () => (await storedKeys())[1]?.[1] !== null);
      const keyB = (await storedKeys())[1]![1]!;
      assert.notEqual(keyB, keyA);

      // B's Release is A's text; its InRelease verifies with B's key alone, not with A's.
      const keyFile = (name: string, dir: string) => {
        const p = join(work, `${name}.gpg`);
        copyFileSync(repoLayout(dir).ownPublicKey, p);
        return p;
      };
      const [ringA, ringB] = [keyFile('key-a', dirA), keyFile('key-b', dirB)];
      const served = await get(`${b.url}/repo/debian/dists/fixture/InRelease`);
      assert.equal(served.status, 200);
      const inRelease = join(work, 'InRelease.b');
      writeFileSync(inRelease, served.body);
      sh('gpgv', ['--keyring', ringB, inRelease]);
      assert.throws(() => sh('gpgv', ['--keyring', ringA, inRelease]), "B's tree is not signed by A's key");
      assert.deepEqual(
        (await get(`${b.url}/repo/debian/dists/fixture/Release`)).body,
        readFileSync(join(layoutA.archiveDir, 'dists/fixture/Release')),
      );

      // A real apt trusting B's key alone updates from B over HTTP and resolves alpha's closure.
      const apt = await createAptRoot(join(work, 'apt-b'), [
        { url: `${b.url}/repo/debian`, suite: 'fixture', debArch: 'amd64', keyring: ringB },
      ]);
      const update = await apt.aptGet(['update']);
      assert.equal(update.code, 0, update.output);
      assert.doesNotMatch(update.output, /^(W|E): /m);
      const sim = parseAptSimulation((await apt.aptGet(['-s', 'install', 'alpha'])).output);
      assert.deepEqual(sim.problems, []);
      assert.deepEqual(sim.installs.map((i) => `${i.name}=${i.version}`).sort(), [
        'alpha=1.0',
        'beta=1.0',
        'gamma=2:1.0',
      ]);
      const dl = await apt.aptGet(['-y', '--download-only', 'install', 'alpha']);
      assert.equal(dl.code, 0, dl.output);

      // Every member's key in what each member publishes: kiln-repo.asc and the installers' keyrings.
      t1 = Date.now();
      await until("A's published keys carry B's key", async () =>
        fingerprints((await get(`${a.url}/repo/kiln-repo.asc`)).body.toString()).includes(keyB),
      );
      t.diagnostic(`A's published keys carried B's ${Date.now() - t1} ms after the sync`);
      assert.deepEqual(fingerprints((await get(`${a.url}/repo/kiln-repo.asc`)).body.toString()), [keyA, keyB]);
      assert.deepEqual(fingerprints((await get(`${b.url}/repo/kiln-repo.asc`)).body.toString()), [keyB, keyA]);
      assert.deepEqual(fingerprints((await get(`${b.url}/repo/kiln-repo.gpg`)).body), [keyB, keyA]);
      const debianKeys = fingerprints(readFileSync('/usr/share/keyrings/debian-archive-keyring.gpg'));
      // A's installer is made from the fixture's netboot tree; A keeps re-appending from the machine's package.
      const initrdOf = async (s: ServeProcess) => (await get(`${s.url}/repo/installer/di/initrd.gz`)).body;
      const machineInitrd = join(installerSource(DI_IMAGES, '12', 'amd64'), 'initrd.gz');
      if (existsSync(machineInitrd)) {
        const debian = readFileSync(machineInitrd);
        assert.deepEqual(installerKeys(await initrdOf(b), debian), [keyB, keyA, ...debianKeys]);
        assert.deepEqual(installerKeys(await initrdOf(a), debian), [keyA, keyB, ...debianKeys]);
      } else t.diagnostic(`no ${machineInitrd}: the installer keyrings are not checked`);

      // The background sync (cluster.repoSync): B restarted with it on; A publishes anew (a later Release Date) and B
      // serves it without any command, re-signed by B's key alone and verified by a real apt that trusts only B's key.
      t1 = Date.now();
      const releaseAt = (s: ServeProcess) => get(`${s.url}/repo/debian/dists/fixture/Release`);
      const olderRelease = (await releaseAt(b)).body;
      const olderTree = join(work, 'a-older');
      cpSync(realpathSync(layoutA.archiveDir), olderTree, { recursive: true });
      await stopChild(b.child, 10_000);
      b = await startServe(['--data-dir', dirB, '--config', configOf('b', true), ...common], env);
      serves.push(b);
      await syncRepo({ dataDir: dirA, profiles: [profile], upstreamKeyring: f.keyring, installerImages: f.images });
      const newer = readFileSync(join(layoutA.archiveDir, 'dists/fixture/Release'));
      assert.notDeepEqual(newer, olderRelease, "A's new Release has a later Date");
      await until("B serves A's new Release without a command", async () => (await releaseAt(b)).body.equals(newer));
      t.diagnostic(`B took A's new subset ${Date.now() - t1} ms after B's restart and A's publication began`);
      // The Release is served from the swap on; the log line follows the installers' keyrings.
      await until('B logged the sync', async () =>
        /re-published a peer's subset under this member's key/.test(b.output()),
      );
      const inReleaseNew = join(work, 'InRelease.b2');
      writeFileSync(inReleaseNew, (await get(`${b.url}/repo/debian/dists/fixture/InRelease`)).body);
      sh('gpgv', ['--keyring', ringB, inReleaseNew]);
      const apt2 = await createAptRoot(join(work, 'apt-b2'), [
        { url: `${b.url}/repo/debian`, suite: 'fixture', debArch: 'amd64', keyring: ringB },
      ]);
      const update2 = await apt2.aptGet(['update']);
      assert.equal(update2.code, 0, update2.output);
      assert.doesNotMatch(update2.output, /^(W|E): /m);

      // A serves its older snapshot again (its own signature, an earlier Date): B's background sync leaves it, and an
      // explicit sync from A is refused with peer_release_older; B keeps serving the newer Release.
      cpSync(olderTree, join(layoutA.publicDir, '.debian.restore'), { recursive: true });
      await swapArchive(layoutA, join(layoutA.publicDir, '.debian.restore'));
      await until(
        "A's older Release recorded in the store",
        async () =>
          (
            await db.query<{ repo_releases: string | null }>("select repo_releases from member_cas where name = 'a'")
          ).rows[0]?.repo_releases?.includes(createHash('sha256').update(olderRelease).digest('hex')) ?? false,
      );
      await new Promise((r) => setTimeout(r, 2500)); // two of B's heartbeats: time to (wrongly) take it
      assert.deepEqual((await releaseAt(b)).body, newer, 'B did not roll back in the background');
      const rollback = await cli(['--from-peer', 'a']);
      assert.notEqual(rollback.code, 0);
      assert.match(rollback.stderr, /older than the Release this member serves .*\[peer_release_older\]/);
      assert.deepEqual((await releaseAt(b)).body, newer, 'nor when asked');
      t.diagnostic(`the background sync part took ${Date.now() - t1} ms`);
      t.diagnostic(`the test took ${Date.now() - t0} ms`);
    } catch (err) {
      t.diagnostic(`A:\n${a.output().slice(-3000)}\nB:\n${b.output().slice(-3000)}`);
      throw err;
    } finally {
      await db.end();
      await stopChild(b.child, 10_000);
      await stopChild(a.child, 10_000);
    }
  },
);

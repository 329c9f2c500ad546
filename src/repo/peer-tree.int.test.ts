// Re-publishing a peer's subset (peer-tree.ts) against a real signed archive (test/support/fixture-archive.ts: its
// tree stands for the peer's, its throwaway key for the peer's repo key), real gpgv and gpg, and a fetch that reads
// the peer's files from disk the way the member route serves them (optionally altered or missing). Each refusal
// leaves nothing published; the accepted tree is the peer's Release signed by this member's key.
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { fixtureArchive, type FixtureArchive } from '../../test/support/fixture-archive.js';
import { parsePublicKeys } from './openpgp-keyring.js';
import { syncTreeFromPeer, type FetchRepoFile, type PeerTreeOptions } from './peer-tree.js';
import { repoLayout } from './repo-layout.js';
import { openRepoKey, type RepoKey } from './repo-key.js';

let f: FixtureArchive;
let key: RepoKey;
let peerKey: Uint8Array;
const work = mkdtempSync(join(tmpdir(), 'kiln-peer-tree-'));
before(async () => {
  f = await fixtureArchive(
    [
      {
        root: 'debian',
        suite: 'fixture',
        packages: [
          { name: 'alpha', version: '1.0', depends: 'beta' },
          { name: 'beta', version: '1.0' },
          { name: 'kernel-image-6.1.0-50-amd64-di', version: '1', udeb: true },
        ],
      },
      { root: 'debian', suite: 'fixture-updates', packages: [{ name: 'beta', version: '1.1' }] },
    ],
    '6.1.0-50-amd64',
  );
  key = await openRepoKey(join(work, 'own-gnupg'));
  peerKey = readFileSync(f.keyring);
});
after(async () => {
  await key.close();
  await f.close();
  rmSync(work, { recursive: true, force: true });
});

/** A fetch of the peer's files from its tree on disk; `alter` may change or drop (null) a file's bytes by path. */
function peerFetch(alter: (path: string, bytes: Buffer) => Buffer | null = (_p, b) => b) {
  const asked: string[] = [];
  const fetch: FetchRepoFile = async (path, sink, peer) => {
    assert.equal(peer, 'peer-a-id', 'only the peer whose index named it');
    asked.push(path);
    const file = join(f.dir, 'debian', path);
    const bytes = existsSync(file) ? alter(path, readFileSync(file)) : null;
    if (!bytes) return null;
    try {
      await sink(
        (async function* () {
          yield bytes.subarray(0, 100);
          yield bytes.subarray(100);
        })(),
      );
    } catch {
      return null; // peer-fetch.ts logs a refused answer and returns null for the one peer asked
    }
    return 'a';
  };
  return { fetch, asked };
}

const options = (dataDir: string, fetch: FetchRepoFile, o: Partial<PeerTreeOptions> = {}): PeerTreeOptions => ({
  layout: repoLayout(dataDir),
  suites: ['fixture'],
  installerProfiles: [],
  peer: { id: 'peer-a-id', name: 'a', repoKey: peerKey },
  fetch,
  key,
  memberKeys: [peerKey],
  installerImages: join(work, 'no-installer-images'),
  extraKeyrings: [],
  ...o,
});

test('each refusal names its cause and publishes nothing', async () => {
  const cases: Array<[string, Partial<PeerTreeOptions>, (p: string, b: Buffer) => Buffer | null, string, RegExp]> = [
    [
      'an index other than the Release names',
      {},
      (p, b) => (p.endsWith('binary-amd64/Packages.gz') ? Buffer.concat([b, Buffer.from('x')]) : b),
      'peer_content_invalid',
      /dists\/fixture\/main\/binary-amd64\/Packages\.gz: over \d+ bytes, not the/,
    ],
    [
      'a udeb other than its index names',
      {},
      (p, b) => (p.endsWith('.udeb') ? Buffer.from(b).fill(0, 50, 60) : b),
      'peer_content_invalid',
      /kernel-image-6\.1\.0-50-amd64-di_1_amd64\.udeb: \d+ bytes hashing to/,
    ],
    [
      'text put before the signed message',
      {},
      (p, b) => (p.endsWith('InRelease') ? Buffer.concat([Buffer.from('Suite: evil\n'), b]) : b),
      'peer_signature_invalid',
      /not one clear-signed message/,
    ],
    [
      "another member's key",
      { peer: { id: 'peer-a-id', name: 'a', repoKey: key.publicKey } },
      (_p, b) => b,
      'peer_signature_invalid',
      /does not verify with the peer's repo key/,
    ],
    [
      "another suite's signed Release at this suite's path",
      {},
      (p, b) =>
        p === 'dists/fixture/InRelease' ? readFileSync(join(f.dir, 'debian/dists/fixture-updates/InRelease')) : b,
      'peer_signature_invalid',
      /is signed for suite fixture-updates, not fixture/,
    ],
    [
      'a package the peer does not serve',
      {},
      (p, b) => (p.includes('/beta_') ? null : b),
      'peer_unavailable',
      /did not serve pool\/fixture\/deb\/beta_1\.0_amd64\.deb/,
    ],
    [
      'a suite the peer has not published',
      { suites: ['fixture', 'other'] },
      (_p, b) => b,
      'peer_unavailable',
      /dists\/other\/InRelease/,
    ],
    [
      'a peer with no key in the store',
      { peer: { id: 'peer-a-id', name: 'a', repoKey: null } },
      (_p, b) => b,
      'peer_unavailable',
      /has no repo key in the store/,
    ],
  ];
  for (const [name, o, alter, code, message] of cases) {
    const data = mkdtempSync(join(work, 'refused-'));
    await assert.rejects(syncTreeFromPeer(options(data, peerFetch(alter).fetch, o)), { code, message }, name);
    const layout = repoLayout(data);
    assert.equal(existsSync(layout.archiveDir), false, `${name}: nothing published`);
    assert.deepEqual(
      (existsSync(layout.publicDir) ? readdirSync(layout.publicDir) : []).filter((n) => !n.startsWith('kiln-repo')),
      [],
      `${name}: no build tree left`,
    );
  }
});

test("the peer's tree re-published: its Release signed by this member's key; a re-sync fetches no package again", async () => {
  const data = mkdtempSync(join(work, 'ok-'));
  const first = peerFetch();
  const r = await syncTreeFromPeer(options(data, first.fetch));
  assert.deepEqual(r.suites, [
    { suite: 'fixture', indexes: r.suites[0]!.indexes, packages: 3, bytes: r.suites[0]!.bytes },
  ]);
  assert.equal(r.fetched, 3);
  assert.equal(r.peerKey, parsePublicKeys(peerKey)[0]!.fingerprint);
  const layout = repoLayout(data);
  const dist = join(layout.archiveDir, 'dists/fixture');
  assert.equal(
    readFileSync(join(dist, 'Release'), 'utf8'),
    readFileSync(join(f.dir, 'debian/dists/fixture/Release'), 'utf8'),
  );
  const own = join(work, 'own.gpg');
  writeFileSync(own, key.publicKey);
  execFileSync('gpgv', ['--keyring', own, join(dist, 'InRelease')], { stdio: 'pipe' });
  execFileSync('gpgv', ['--keyring', own, join(dist, 'Release.gpg'), join(dist, 'Release')], { stdio: 'pipe' });
  assert.throws(() => execFileSync('gpgv', ['--keyring', f.keyring, join(dist, 'InRelease')], { stdio: 'pipe' }));
  assert.deepEqual(
    readFileSync(join(layout.archiveDir, 'pool/fixture/deb/alpha_1.0_amd64.deb')),
    readFileSync(join(f.dir, 'debian/pool/fixture/deb/alpha_1.0_amd64.deb')),
  );
  assert.deepEqual(
    parsePublicKeys(readFileSync(layout.publicKey)).map((k) => k.fingerprint),
    [key.fingerprint, r.peerKey],
    'the served keys: this member first, then the others',
  );
  const again = peerFetch();
  const r2 = await syncTreeFromPeer(options(data, again.fetch));
  assert.equal(r2.fetched, 0);
  assert.ok(
    again.asked.every((p) => p.startsWith('dists/')),
    again.asked.join(' '),
  );
  assert.equal(readdirSync(layout.peerPool).length, 3, 'the pool holds what the tree names');
});

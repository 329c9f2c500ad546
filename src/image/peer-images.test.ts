// Image records and tarballs taken from the member that imported them
// (peer-images.ts), with member A's data dir behind a fake peer fetch that
// behaves as peer-fetch.ts does: a sink that throws is a refused peer
// (fake-image-peer.ts).
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { hasCode } from '../error/kiln-error.js';
import { createImageCatalog } from './image-catalog.js';
import { createImageStore, type OsImage } from './image-store.js';
import { createPeerContent } from './objects/peer-content.js';
import { createPeerImages, parsePeerRecord, RECORD_REFRESH_MS } from './peer-images.js';
import { tarballFromPeers } from './tarball-files.js';
import { createFakeImagePeer } from './fake-image-peer.js';

const work = mkdtempSync(join(tmpdir(), 'kiln-peer-images-'));
after(() => rmSync(work, { recursive: true, force: true }));

function tarballOf(name: string, files: Record<string, string>): string {
  const root = join(work, `root-${name}`);
  rmSync(root, { recursive: true, force: true });
  mkdirSync(join(root, 'etc'), { recursive: true });
  for (const [p, text] of Object.entries(files)) writeFileSync(join(root, p), text);
  const out = join(work, `${name}.tar.gz`);
  execFileSync('tar', ['-C', root, '--numeric-owner', '-czf', out, '.']);
  return out;
}

function memberB(dir: string, peer: ReturnType<typeof createFakeImagePeer>, now = () => Date.now()) {
  const store = createImageStore(join(dir, 'images'));
  const catalog = createImageCatalog(store);
  const content = createPeerContent({
    objects: catalog.objects,
    manifests: catalog.manifests,
    fetchFromPeers: peer.fetch,
  });
  const images = createPeerImages({
    images: store,
    ensureManifest: (id) => content.ensureManifest(id),
    manifestsDir: catalog.manifests.dir,
    fetchFromPeers: peer.fetch,
    now,
  });
  return { store, catalog, images };
}

describe('image records and tarballs from the importing member', () => {
  const dirA = join(work, 'a');
  const storeA = createImageStore(join(dirA, 'images'));
  const tarV1 = tarballOf('v1', { 'etc/hostname': 'a-and-b\n', 'etc/os': 'kiln test v1\n' });
  let onA: OsImage;
  before(async () => {
    onA = (await createImageCatalog(storeA).importImage('shared', tarV1)).image;
  });

  it('a member without the record takes it from the importer, with the manifest verified and views rendered here; the tarball is fetched by its SHA-256', async () => {
    const peer = createFakeImagePeer(storeA);
    const b = memberB(join(work, 'b1'), peer);
    const got = await b.images.ensureImage('shared');
    assert.ok(got);
    assert.equal(got.fetchedFrom, 'kiln-a');
    assert.equal(got.manifest, onA.manifest);
    assert.equal(got.sha256, onA.sha256);
    assert.deepEqual(got.views, onA.views, 'the views B rendered hash as A recorded');
    assert.deepEqual(b.store.get('shared'), got, 'kept in B data dir: kiln image list shows it');
    assert.ok(existsSync(join(b.catalog.manifests.dir, `${onA.manifest}.json`)));
    assert.equal(existsSync(join(b.store.dir, 'shared.tar.gz')), false, 'no tarball until one is asked for');
    assert.equal(await b.images.ensureTarball(got), true);
    assert.deepEqual(readFileSync(join(b.store.dir, 'shared.tar.gz')), readFileSync(tarV1));
    const n = peer.calls.length;
    assert.equal((await b.images.ensureImage('shared'))?.manifest, onA.manifest);
    assert.equal(peer.calls.length, n, 'asked again only after the refresh interval');
  });

  it('a request for /images/<file> on a member with neither record nor tarball brings both', async () => {
    const peer = createFakeImagePeer(storeA);
    const b = memberB(join(work, 'b2'), peer);
    await tarballFromPeers(b.images, b.store.dir, 'shared.tar.gz');
    assert.deepEqual(readFileSync(join(b.store.dir, 'shared.tar.gz')), readFileSync(tarV1));
    await tarballFromPeers(b.images, b.store.dir, 'other.tar.gz');
    await tarballFromPeers(b.images, b.store.dir, 'objects/ab/cd');
    assert.equal(existsSync(join(b.store.dir, 'other.tar.gz')), false);
    await tarballFromPeers(b.images, b.store.dir, 'other.tar.gz');
    assert.equal(peer.calls.filter((c) => c === 'images/other').length, 1, 'a miss is remembered for the interval');
  });

  it("a peer's wrong tarball bytes are refused: nothing kept, no temp file left", async () => {
    const peer = createFakeImagePeer(storeA, { tamper: 'tarballs' });
    const b = memberB(join(work, 'b3'), peer);
    const got = await b.images.ensureImage('shared');
    assert.ok(got);
    assert.equal(await b.images.ensureTarball(got), false);
    assert.deepEqual(peer.refused, ['tarballs: validation_failed']);
    assert.deepEqual(
      readdirSync(b.store.dir).filter((f) => f.includes('tar')),
      [],
    );
  });

  it('a record whose manifest does not verify is not kept; a record naming another image or file is refused', async () => {
    const peer = createFakeImagePeer(storeA, { tamper: 'manifests' });
    const b = memberB(join(work, 'b4'), peer);
    assert.equal(await b.images.ensureImage('shared'), null);
    assert.equal(b.store.get('shared'), null);
    assert.deepEqual(peer.refused, ['manifests: validation_failed']);
    const good = JSON.parse(readFileSync(join(storeA.dir, 'shared.json'), 'utf8')) as Record<string, unknown>;
    const cases: Array<[string, Record<string, unknown>]> = [
      ['another name', { ...good, name: 'other' }],
      ['a file out of the store', { ...good, file: '../../etc/shadow' }],
      ['no manifest', { ...good, manifest: undefined }],
      ['a short sha256', { ...good, sha256: 'abc' }],
      ['a negative size', { ...good, sizeBytes: -1 }],
    ];
    for (const [what, rec] of cases)
      assert.throws(
        () => parsePeerRecord('shared', JSON.stringify(rec)),
        (e) => hasCode(e, 'validation_failed'),
        what,
      );
    assert.equal(
      parsePeerRecord('shared', JSON.stringify({ ...good, fetchedFrom: 'x', views: {} })).fetchedFrom,
      undefined,
    );
  });

  it("this member's own import is never asked for; a record added again on the importer replaces the fetched one after the interval", async () => {
    let t = 1_000_000;
    const peer = createFakeImagePeer(storeA);
    const b = memberB(join(work, 'b5'), peer, () => t);
    await createImageCatalog(b.store).importImage('mine', tarV1);
    assert.equal((await b.images.ensureImage('mine'))?.fetchedFrom, undefined);
    assert.deepEqual(peer.calls, []);
    const v1 = await b.images.ensureImage('shared');
    assert.ok(v1 && (await b.images.ensureTarball(v1)));
    const tarV2 = tarballOf('v2', { 'etc/hostname': 'a-and-b\n', 'etc/os': 'kiln test v2, longer\n' });
    const { image: v2OnA } = await createImageCatalog(storeA).importImage('shared', tarV2);
    t += RECORD_REFRESH_MS + 1;
    const v2 = await b.images.ensureImage('shared');
    assert.ok(v2);
    assert.equal(v2.manifest, v2OnA.manifest);
    assert.notEqual(v2.manifest, v1.manifest);
    assert.equal(existsSync(join(b.store.dir, 'shared.tar.gz')), false, 'the old tarball went with the old record');
    assert.ok(await b.images.ensureTarball(v2));
    assert.deepEqual(readFileSync(join(b.store.dir, 'shared.tar.gz')), readFileSync(tarV2));
  });

  it("a member's route never serves a record it took from a peer (so a stale copy does not spread)", async () => {
    const b = memberB(join(work, 'b6'), createFakeImagePeer(storeA));
    assert.ok(await b.images.ensureImage('shared'));
    const peerB = createFakeImagePeer(b.store);
    const c = memberB(join(work, 'c6'), peerB);
    assert.equal(await c.images.ensureImage('shared'), null);
    assert.deepEqual(peerB.calls, ['images/shared']);
  });
});

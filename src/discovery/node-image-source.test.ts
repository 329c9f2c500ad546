// The node image source on one SQLite store (the same SQL runs on PostgreSQL: src/cluster/content-postgres.int.test.ts):
// member A records its own image; member B, with none, serves A's version from verified copies, fetched through a
// fake peer fetch that reads A's files (or a tampered copy of them).
import assert from 'node:assert/strict';
import { createHash, randomBytes } from 'node:crypto';
import {
  existsSync,
  mkdirSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  rmSync,
  utimesSync,
  writeFileSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, test } from 'node:test';
import type { Logger } from '../log/logger.js';
import { openSqlite } from '../store/database.js';
import { migrateToLatest } from '../store/migrate.js';
import { createNodeImageSource, type FetchNodeImageFile, type OwnNodeImage } from './node-image-source.js';
import { listNodeImageFiles } from './sql-node-image-store.js';

const work = mkdtempSync(join(tmpdir(), 'kiln-node-image-source-'));
after(() => rmSync(work, { recursive: true, force: true }));
const sha = (b: Uint8Array) => createHash('sha256').update(b).digest('hex');

function imageDir(name: string, version: string): Required<OwnNodeImage> {
  const dir = join(work, name);
  mkdirSync(dir, { recursive: true });
  writeFileSync(join(dir, 'vmlinuz'), randomBytes(70_000));
  writeFileSync(join(dir, 'initrd.img'), randomBytes(130_000));
  writeFileSync(join(dir, 'version'), `${version}\n`);
  return { dir, arch: 'x86_64', version };
}

/** A peer fetch serving `from`'s files by SHA-256 (its `pathOf`), optionally with one byte changed; counts calls. */
function peerOf(from: { pathOf: (sha256: string) => string | null }, opts: { tamper?: boolean } = {}) {
  const calls: string[] = [];
  const fetch: FetchNodeImageFile = async (kind, id, sink) => {
    calls.push(`${kind}/${id}`);
    const path = from.pathOf(id);
    if (!path) return null;
    const bytes = Buffer.from(readFileSync(path));
    if (opts.tamper) bytes[bytes.length - 1]! ^= 0xff;
    try {
      await sink(
        (async function* () {
          yield bytes.subarray(0, 1000);
          yield bytes.subarray(1000);
        })(),
      );
    } catch {
      return null; // peer-fetch.ts logs a refused answer and asks the next peer; there is none here
    }
    return 'a';
  };
  return { fetch, calls };
}

async function bed() {
  const store = openSqlite(':memory:');
  await migrateToLatest(store.db);
  const own = imageDir(`a-${randomBytes(3).toString('hex')}`, '6.1.0-9-amd64-0123456789ab');
  const a = createNodeImageSource({ db: store.db, own: () => own, copiesDir: join(work, 'a-copies') });
  return { store, own, a };
}

test('a member records its own image: both files with size and SHA-256, once per version', async () => {
  const { store, own, a } = await bed();
  await a.recordOwn(own, 'a');
  await a.recordOwn(own, 'a');
  const rows = await listNodeImageFiles(store.db, own.version);
  assert.deepEqual(
    rows.map((r) => [r.file, r.arch, r.size, r.sha256, r.recordedBy]).sort(),
    ['initrd.img', 'vmlinuz']
      .map((f) => {
        const b = readFileSync(join(own.dir, f));
        return [f, 'x86_64', b.length, sha(b), 'a'];
      })
      .sort(),
  );
  assert.equal(a.pathOf(sha(readFileSync(join(own.dir, 'vmlinuz')))), join(own.dir, 'vmlinuz'));
  assert.deepEqual(a.current(), { arch: 'x86_64', version: own.version });
  assert.equal(await a.resolve('x86_64', 'vmlinuz'), own.dir);
  assert.equal(await a.resolve('x86_64', 'vmlinuz', own.version), own.dir);
  assert.equal(await a.resolve('arm64', 'vmlinuz'), null, 'no image for another architecture');
  assert.equal(await a.resolve('x86_64', 'version'), null, 'only the image files');
  await store.close();
});

test('a member without an image serves the recorded version from copies it checked, fetched once', async () => {
  const { store, own, a } = await bed();
  const copies = join(work, `b-copies-${randomBytes(3).toString('hex')}`);
  const peer = peerOf(a);
  const b = createNodeImageSource({ db: store.db, own: () => null, copiesDir: copies, fetchFromPeers: peer.fetch });
  assert.equal(await b.resolve('x86_64', 'vmlinuz'), null, 'nothing recorded yet');
  await a.recordOwn(own, 'a');
  await b.refresh().catch(() => undefined);
  // The newest version is read again after NEWEST_REFRESH_MS; a pinned version is looked up at once.
  const dir = await b.resolve('x86_64', 'vmlinuz', own.version);
  assert.equal(dir, join(copies, own.version));
  assert.deepEqual(readFileSync(join(dir!, 'vmlinuz')), readFileSync(join(own.dir, 'vmlinuz')));
  assert.equal(await b.resolve('x86_64', 'vmlinuz', own.version), dir, 'from the copy');
  assert.equal(peer.calls.length, 1, 'one fetch');
  const both = await Promise.all([1, 2, 3].map(() => b.resolve('x86_64', 'initrd.img', own.version)));
  assert.deepEqual(both, [dir, dir, dir]);
  assert.equal(peer.calls.length, 2, 'concurrent requests share one fetch');
  assert.equal(
    b.pathOf(sha(readFileSync(join(own.dir, 'initrd.img')))),
    join(dir!, 'initrd.img'),
    'B serves its copy on',
  );
  assert.equal(await b.resolve('x86_64', 'vmlinuz', '6.1.0-9-amd64-ffffffffffff'), null, 'a version never recorded');
  assert.equal(await b.resolve('x86_64', 'vmlinuz', '../x'), null, 'not a version');
  await store.close();
});

test("a peer's bytes that do not match the record are refused: nothing kept, no temp file", async () => {
  const { store, own, a } = await bed();
  await a.recordOwn(own, 'a');
  const copies = join(work, `c-copies-${randomBytes(3).toString('hex')}`);
  const peer = peerOf(a, { tamper: true });
  const b = createNodeImageSource({ db: store.db, own: () => null, copiesDir: copies, fetchFromPeers: peer.fetch });
  assert.equal(await b.resolve('x86_64', 'initrd.img', own.version), null);
  assert.equal(peer.calls.length, 1);
  assert.equal(existsSync(join(copies, own.version, 'initrd.img')), false);
  assert.deepEqual(readdirSync(join(copies, own.version)), [], 'no temp file left');
  await store.close();
});

test("a member's own image wins on that member; another version is served only as recorded", async () => {
  const { store, own, a } = await bed();
  await a.recordOwn(own, 'a');
  const mine = imageDir(`b-own-${randomBytes(3).toString('hex')}`, '6.1.0-9-amd64-abcdefabcdef');
  const copies = join(work, `d-copies-${randomBytes(3).toString('hex')}`);
  const b = createNodeImageSource({
    db: store.db,
    own: () => mine,
    copiesDir: copies,
    fetchFromPeers: peerOf(a).fetch,
  });
  await b.recordOwn(mine, 'b');
  assert.deepEqual(b.current(), { arch: 'x86_64', version: mine.version }, 'its own, not the newest recorded');
  assert.equal(await b.resolve('x86_64', 'initrd.img'), mine.dir);
  // A script rendered while B served A's version still gets A's files from B.
  assert.equal(await b.resolve('x86_64', 'initrd.img', own.version), join(copies, own.version));
  await store.close();
});

test('a second member with the same version and other bytes leaves the record as the first wrote it', async () => {
  const { store, own, a } = await bed();
  await a.recordOwn(own, 'a');
  const same = imageDir(`e-own-${randomBytes(3).toString('hex')}`, own.version);
  const warnings: string[] = [];
  const log: Logger = {
    warn: (_o, msg) => void warnings.push(msg ?? ''),
    info: () => undefined,
    debug: () => undefined,
    error: () => undefined,
    child: () => log,
  };
  const b = createNodeImageSource({
    db: store.db,
    own: () => same,
    copiesDir: join(work, 'e-copies'),
    log,
  });
  await b.recordOwn(same, 'b');
  const rows = await listNodeImageFiles(store.db, own.version);
  assert.deepEqual(
    rows.map((r) => r.recordedBy),
    ['a', 'a'],
  );
  assert.equal(rows.find((r) => r.file === 'vmlinuz')?.sha256, sha(readFileSync(join(own.dir, 'vmlinuz'))));
  assert.match(warnings.join('\n'), /built other bytes than the member that recorded this version/);
  assert.equal(b.pathOf(rows[0]!.sha256), null, "B does not offer A's bytes it does not hold");
  await store.close();
});

test("a member's own earlier build of a version serves it while its new build runs, without a peer", async () => {
  const { store, own, a } = await bed();
  await a.recordOwn(own, 'a');
  const peer = peerOf(a);
  const b = createNodeImageSource({
    db: store.db,
    own: () => null,
    copiesDir: join(work, 'f-copies'),
    builtDir: (version, arch) => (arch === 'x86_64' && version === own.version ? own.dir : null),
    fetchFromPeers: peer.fetch,
  });
  assert.equal(await b.resolve('x86_64', 'initrd.img', own.version), own.dir);
  assert.deepEqual(peer.calls, [], 'no peer asked');
  await store.close();
});

test("a member's served image for kiln doctor: nothing recorded, a peer's version not fetched, then fetched; its own", async () => {
  const { store, own, a } = await bed();
  const copies = join(work, `g-copies-${randomBytes(3).toString('hex')}`);
  const b = createNodeImageSource({
    db: store.db,
    own: () => null,
    copiesDir: copies,
    fetchFromPeers: peerOf(a).fetch,
  });
  assert.equal(await b.served(), null, 'nothing recorded');
  await a.recordOwn(own, 'kiln-a');
  // The first answer was a miss: the newest version is read again after a tenth of NEWEST_REFRESH_MS.
  const later = createNodeImageSource({
    db: store.db,
    own: () => null,
    copiesDir: copies,
    fetchFromPeers: peerOf(a).fetch,
  });
  assert.deepEqual(await later.served(), {
    source: 'peer',
    version: own.version,
    recordedBy: 'kiln-a',
    fetched: [],
    missing: ['vmlinuz', 'initrd.img'],
  });
  await later.resolve('x86_64', 'vmlinuz');
  assert.deepEqual(await later.served(), {
    source: 'peer',
    version: own.version,
    recordedBy: 'kiln-a',
    fetched: ['vmlinuz'],
    missing: ['initrd.img'],
  });
  assert.deepEqual(await a.served(), { source: 'own', version: own.version });
  await store.close();
});

test('copies of versions no longer served go after the grace period; the newest, the served and recently used stay', async () => {
  const store = openSqlite(':memory:');
  await migrateToLatest(store.db);
  const copies = join(work, `h-copies-${randomBytes(3).toString('hex')}`);
  // Three versions recorded one after the other (record time orders them); B holds a copy of each.
  const versions = ['6.1.0-9-amd64-000000000001', '6.1.0-9-amd64-000000000002', '6.1.0-9-amd64-000000000003'];
  let clock = Date.parse('2026-12-07T10:00:00Z');
  const images = versions.map((v) => imageDir(`h-${v}-${randomBytes(2).toString('hex')}`, v));
  const recorders = images.map((img) =>
    createNodeImageSource({ db: store.db, own: () => img, copiesDir: join(work, 'h-unused'), now: () => clock }),
  );
  const peer = {
    pathOf: (sha256: string) => recorders.map((r) => r.pathOf(sha256)).find((p) => p !== null) ?? null,
  };
  let skew = 0; // B's clock runs ahead of the file times by this much
  const b = createNodeImageSource({
    db: store.db,
    own: () => null,
    copiesDir: copies,
    fetchFromPeers: peerOf(peer).fetch,
    now: () => Date.now() + skew,
  });
  for (const [i, img] of images.entries()) {
    clock += 60_000;
    await recorders[i]!.recordOwn(img, 'kiln-a');
    assert.equal(await b.resolve('x86_64', 'vmlinuz', img.version), join(copies, img.version));
  }
  const twoHoursAgo = new Date(Date.now() - 2 * 60 * 60 * 1000);
  for (const v of versions) utimesSync(join(copies, v), twoHoursAgo, twoHoursAgo);
  skew = 2 * 60 * 60 * 1000; // two hours after the fetches
  // Version 2 served from its copy just now (a script rendered before the switch still names it).
  assert.equal(await b.resolve('x86_64', 'vmlinuz', versions[1]), join(copies, versions[1]!));
  const r = await b.gcCopies();
  assert.deepEqual(r, { kept: [versions[1], versions[2]], removed: [versions[0]] });
  assert.deepEqual(readdirSync(copies).sort(), [versions[1], versions[2]]);
  // Within the grace period nothing goes; past it with no use, version 2 goes too, the newest stays.
  const c = createNodeImageSource({
    db: store.db,
    own: () => null,
    copiesDir: copies,
    fetchFromPeers: peerOf(peer).fetch,
  });
  assert.deepEqual((await c.gcCopies()).removed, [versions[1]], 'a restarted member knows only the directory times');
  assert.deepEqual(readdirSync(copies), [versions[2]]);
  // A removed version asked for again is fetched again, checked as before.
  assert.equal(await c.resolve('x86_64', 'initrd.img', versions[0]), join(copies, versions[0]!));
  assert.deepEqual((await c.gcCopies()).removed, [], 'just fetched: within its grace period');
  await store.close();
});

// The node image source on one SQLite store (the same SQL runs on PostgreSQL: src/cluster/content-postgres.int.test.ts):
// member A records its own image; member B, with none, serves A's version from verified copies, fetched through a
// fake peer fetch that reads A's files (or a tampered copy of them).
import assert from 'node:assert/strict';
import { createHash, randomBytes } from 'node:crypto';
import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
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

// Image records and tarballs between members for real (docs/cluster.md,
// "Content between members"; ADR 0015): two `kiln serve` on one PostgreSQL
// (loopback). An image is imported into A's data dir only; B is asked for it
// through the API (`GET /api/v1/images/<name>`) and for its tarball
// (`/images/<file>`, Range first, then whole and HEAD). B takes the record from
// A over A's HTTPS API with the member credential, fetches and verifies the
// manifest it names, and the tarball by the record's SHA-256; `kiln image
// list` on B's data dir shows the record then. A second image whose tarball on
// A was altered (same length) is refused by B: logged, nothing kept, a 404.
// Fails, does not skip, when the local PostgreSQL is down.
import { after, test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import {
  copyFileSync,
  existsSync,
  mkdirSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  rmSync,
  writeFileSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { curl as curlIn, header } from '../../test/support/curl.js';
import { createTempPostgres, type TempPostgres } from '../../test/support/postgres.js';
import { runKiln, startServe, type ServeProcess } from '../../test/support/serve-process.js';
import { killChild, stopChild } from '../../test/support/process.js';
import { createImageCatalog } from '../image/image-catalog.js';
import { createImageStore, type OsImage } from '../image/image-store.js';

const work = mkdtempSync(join(tmpdir(), 'kiln-image-records-'));
const serves: ServeProcess[] = [];
let database: TempPostgres | undefined;
after(async () => {
  for (const s of serves) killChild(s.child);
  await database?.drop();
  rmSync(work, { recursive: true, force: true });
});

const sha = (b: Uint8Array) => createHash('sha256').update(b).digest('hex');

/** curl (Debian's), bounded: status line, headers and body of one request. */
const curl = (args: string[]) => curlIn(work, 30, args);

/** A root with a 2 MiB random file (the tarball does not compress) and a few small ones, as a .tar.gz. */
function tarballOf(name: string): string {
  const root = join(work, `root-${name}`);
  mkdirSync(join(root, 'etc'), { recursive: true });
  writeFileSync(join(root, 'big.bin'), randomBytes(2 << 20));
  for (let i = 0; i < 4; i++)
    writeFileSync(join(root, 'etc', `f${i}`), `${name} ${i} ${randomBytes(8).toString('hex')}\n`);
  const out = join(work, `${name}.tar.gz`);
  execFileSync('tar', ['-C', root, '--numeric-owner', '-czf', out, '.']);
  return out;
}

test(
  "an image imported on one member is served through the other: its record from the importer, its manifest and tarball verified by hash; a peer's wrong tarball bytes are refused",
  { timeout: 120_000 },
  async (t) => {
    const t0 = Date.now();
    database = await createTempPostgres('image_records');
    const config = join(work, 'kiln.yaml');
    writeFileSync(config, 'cluster: { heartbeatSeconds: 1, electionMs: 500, staleSeconds: 4 }\n');
    const dirA = join(work, 'a');
    const dirB = join(work, 'b');
    mkdirSync(dirA, { mode: 0o700 });
    mkdirSync(dirB, { mode: 0o700 });
    const env = { KILN_LOG_LEVEL: 'info' };
    const a = await startServe(['--data-dir', dirA, '--config', config, '--database-url', database.url], env);
    serves.push(a);
    // Members share the store's data key (kiln controller join wraps it: join-postgres.int.test.ts); B keeps its own CAs.
    copyFileSync(join(dirA, 'data.key'), join(dirB, 'data.key'));
    const b = await startServe(['--data-dir', dirB, '--config', config, '--database-url', database.url], env);
    serves.push(b);
    t.diagnostic(`both members up after ${Date.now() - t0} ms`);
    try {
      const catalogA = createImageCatalog(createImageStore(join(dirA, 'images')));
      const shared = tarballOf('shared');
      const { image } = await catalogA.importImage('shared', shared);
      const other = tarballOf('other');
      await catalogA.importImage('other', other);
      const imagesB = join(dirB, 'images');
      assert.equal(existsSync(join(imagesB, 'shared.json')), false, 'B starts without the record');

      // The record through B's API (admin token from A's first start; tokens live in the shared store).
      const token = readFileSync(join(dirA, 'admin-token'), 'utf8').trim();
      const viaApi = await curl(['-H', `authorization: Bearer ${token}`, `${b.url}/api/v1/images/shared`]);
      assert.equal(viaApi.status, 200, viaApi.body.toString());
      const record = JSON.parse(viaApi.body.toString()) as OsImage;
      assert.equal(record.manifest, image.manifest);
      assert.equal(record.sha256, image.sha256);
      assert.match(record.fetchedFrom ?? '', /./, 'names the member it came from');
      const manifestOnB = readFileSync(join(imagesB, 'manifests', `${image.manifest}.json`));
      assert.equal(sha(manifestOnB), image.manifest, 'B holds the manifest the record names, hashing to its id');
      const listed = await runKiln(['image', 'list', '--data-dir', dirB, '--json']);
      assert.equal(listed.code, 0, listed.stderr);
      assert.deepEqual(
        (JSON.parse(listed.stdout) as OsImage[]).map((i) => [i.name, i.manifest]),
        [['shared', image.manifest]],
      );

      // The tarball: Range first (B fetches the whole file from A, checks it, then serves the range), then whole, HEAD.
      const bytes = readFileSync(shared);
      const ranged = await curl(['-r', '1000-1999', `${b.url}/images/shared.tar.gz`]);
      assert.equal(ranged.status, 206, ranged.headers);
      assert.deepEqual(ranged.body, bytes.subarray(1000, 2000));
      const whole = await curl([`${b.url}/images/shared.tar.gz`]);
      assert.equal(whole.status, 200);
      assert.equal(sha(whole.body), image.sha256, 'the bytes B serves hash to the record');
      assert.deepEqual(readFileSync(join(imagesB, 'shared.tar.gz')), bytes);
      const head = await curl(['-I', `${b.url}/images/shared.tar.gz`]);
      assert.equal(head.status, 200);
      assert.equal(Number(header(head.headers, 'content-length')), bytes.length);
      const fetched = b
        .output()
        .split('\n')
        .filter((l) => l.includes('fetched from a peer') && l.includes(image.sha256));
      assert.equal(fetched.length, 1, fetched.join('\n'));

      // A peer's wrong bytes: other's tarball on A altered (same length); B takes the record, refuses the tarball.
      const onA = join(dirA, 'images', 'other.tar.gz');
      const altered = readFileSync(onA);
      altered[altered.length - 100]! ^= 0xff;
      writeFileSync(onA, altered);
      const refused = await curl([`${b.url}/images/other.tar.gz`]);
      assert.equal(refused.status, 404, refused.body.toString());
      assert.match(b.output(), /sent bytes that do not hash to the id/);
      assert.equal(existsSync(join(imagesB, 'other.tar.gz')), false, 'nothing kept on B');
      assert.deepEqual(
        readdirSync(imagesB).filter((f) => f.endsWith('.tmp')),
        [],
        'no temp file left on B',
      );
      t.diagnostic(
        `B took shared's record from A, its manifest and its ${bytes.length}-byte tarball (Range 206, sha256 matched, one peer fetch); other's altered tarball refused (404); the test took ${Date.now() - t0} ms`,
      );
    } catch (err) {
      t.diagnostic(`A:\n${a.output().slice(-3000)}\nB:\n${b.output().slice(-3000)}`);
      throw err;
    } finally {
      await stopChild(b.child, 10_000);
      await stopChild(a.child, 10_000);
    }
  },
);

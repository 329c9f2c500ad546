// Content between members for real (docs/cluster.md, "Content between
// members"): two `kiln serve` on one PostgreSQL (loopback). An image is
// imported into A's data dir only; curl asks B for its objects (GET, Range,
// HEAD), its manifest, an install view and a pack, and B fetches each from A
// over A's HTTPS API (verified against A's TLS CA, signed with the member
// credential), checks the SHA-256, stores it once and serves it. Concurrent
// requests for one object make one peer fetch. An object whose file on A was
// altered is refused by B (logged, nothing stored) and B answers 404. A's
// member route refuses a call without the credential, with a wrong one, and
// over plain HTTP. Fails, does not skip, when the local PostgreSQL is down.
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
import { Agent, fetch as undiciFetch } from 'undici';
import { curl as curlIn, header } from '../../test/support/curl.js';
import { createTempPostgres, type TempPostgres } from '../../test/support/postgres.js';
import { startServe, type ServeProcess } from '../../test/support/serve-process.js';
import { killChild, stopChild } from '../../test/support/process.js';
import { createImageCatalog } from '../image/image-catalog.js';
import { createImageStore } from '../image/image-store.js';
import { decodePack } from '../image/objects/pack-frame.js';
import { memberKeyOf, signMemberRequest } from './member-credential.js';
import { peerContentPath } from './peer-fetch.js';

const work = mkdtempSync(join(tmpdir(), 'kiln-content-'));
const serves: ServeProcess[] = [];
let database: TempPostgres | undefined;
after(async () => {
  for (const s of serves) killChild(s.child);
  await database?.drop();
  rmSync(work, { recursive: true, force: true });
});

const sha = (b: Uint8Array) => createHash('sha256').update(b).digest('hex');

/** curl (Debian's), bounded: status line, headers and body of one request. */
const curl = (args: string[]) => curlIn(work, 20, args);

test(
  "image content imported on one member is fetched through the other: verified, stored once, Range and HEAD; a peer's wrong bytes are refused",
  { timeout: 90_000 },
  async (t) => {
    const t0 = Date.now();
    database = await createTempPostgres('content');
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
      // An image on A only: a 3 MiB file, small ones, and one to alter on A's disk.
      const root = join(work, 'root');
      mkdirSync(join(root, 'etc'), { recursive: true });
      const big = randomBytes(3 << 20);
      writeFileSync(join(root, 'big.bin'), big);
      const smalls = Array.from({ length: 5 }, (_, i) =>
        Buffer.from(`small file ${i} ${randomBytes(8).toString('hex')}\n`),
      );
      smalls.forEach((s, i) => writeFileSync(join(root, 'etc', `small-${i}`), s));
      const victim = Buffer.from(`to be altered on A ${randomBytes(8).toString('hex')}\n`);
      writeFileSync(join(root, 'etc', 'victim'), victim);
      const crowd = Buffer.from(`asked for by many at once ${randomBytes(8).toString('hex')}\n`);
      writeFileSync(join(root, 'etc', 'crowd'), crowd);
      const tarball = join(work, 'root.tar.gz');
      execFileSync('tar', ['-C', root, '--numeric-owner', '-czf', tarball, '.']);
      const catalogA = createImageCatalog(createImageStore(join(dirA, 'images')));
      const { image } = await catalogA.importImage('shared', tarball);
      const manifestId = image.manifest!;
      const objectsB = join(dirB, 'images', 'objects');
      const onB = (id: string) => existsSync(join(objectsB, id.slice(0, 2), id.slice(2)));
      assert.ok(!onB(sha(big)), 'B starts without the objects');

      // Range first: B fetches the whole object from A, checks it, then serves the range.
      const bigId = sha(big);
      const ranged = await curl(['-r', '1000-1999', `${b.url}/images/objects/${bigId}`]);
      assert.equal(ranged.status, 206, ranged.headers);
      assert.deepEqual(ranged.body, big.subarray(1000, 2000));
      assert.ok(onB(bigId), 'B stored the object');
      const whole = await curl([`${b.url}/images/objects/${bigId}`]);
      assert.equal(whole.status, 200);
      assert.equal(sha(whole.body), bigId);
      const head = await curl(['-I', `${b.url}/images/objects/${sha(smalls[0])}`]);
      assert.equal(head.status, 200, head.headers);
      assert.equal(Number(header(head.headers, 'content-length')), smalls[0].length);
      assert.match(header(head.headers, 'cache-control') ?? '', /immutable/);

      // The manifest (its text hashes to the id) and a view B rendered from it, byte-equal to A's.
      const manifest = await curl([`${b.url}/images/manifests/${manifestId}`]);
      assert.equal(manifest.status, 200);
      assert.equal(sha(manifest.body), manifestId);
      const view = await curl([`${b.url}/images/manifests/${manifestId}/files`]);
      assert.equal(view.status, 200);
      assert.deepEqual(view.body, readFileSync(join(dirA, 'images', 'manifests', `${manifestId}.files`)));

      // A pack of objects B lacks.
      const packIds = smalls.slice(1).map(sha);
      const pack = await curl([
        '-X',
        'POST',
        '-H',
        'content-type: application/json',
        '--data',
        JSON.stringify({ ids: packIds }),
        `${b.url}/images/objects/pack`,
      ]);
      assert.equal(pack.status, 200, pack.body.toString());
      const frames = decodePack(pack.body);
      assert.deepEqual(
        frames.map((f) => f.id),
        packIds,
      );
      for (const f of frames) assert.equal(sha(f.bytes), f.id);

      // Eight requests at once for one object: one fetch from A.
      const crowdId = sha(crowd);
      const many = await Promise.all(Array.from({ length: 8 }, () => curl([`${b.url}/images/objects/${crowdId}`])));
      for (const r of many) assert.deepEqual(r.body, crowd);
      const fetchedLines = b
        .output()
        .split('\n')
        .filter((l) => l.includes('fetched from a peer') && l.includes(crowdId));
      assert.equal(fetchedLines.length, 1, fetchedLines.join('\n'));

      // A peer's wrong bytes: the object's file on A altered (same length); B refuses, logs it, stores nothing.
      const victimId = sha(victim);
      const victimOnA = join(dirA, 'images', 'objects', victimId.slice(0, 2), victimId.slice(2));
      writeFileSync(victimOnA, Buffer.from(victim.toString().toUpperCase()));
      const refused = await curl([`${b.url}/images/objects/${victimId}`]);
      assert.equal(refused.status, 404, refused.body.toString());
      assert.ok(!onB(victimId), 'nothing stored on B');
      assert.match(b.output(), /sent bytes that do not hash to the id/);
      assert.equal(readdirTmp(objectsB), 0, 'no temp file left on B');

      // A's member route: the credential is required, must be right, and only over HTTPS.
      const caA = readFileSync(join(dirA, 'tls', 'ca.pem'), 'utf8');
      const agent = new Agent({ connect: { ca: caA } });
      const path = peerContentPath('objects', bigId);
      const key = memberKeyOf(readFileSync(join(dirA, 'data.key')));
      const signed = () => signMemberRequest(key, { member: 'test-member', method: 'GET', path, nowMs: Date.now() });
      const call = async (base: string, auth?: string) => {
        const res = await undiciFetch(`${base}${path}`, {
          dispatcher: agent,
          headers: auth ? { authorization: auth } : {},
          signal: AbortSignal.timeout(10_000),
        });
        const body = Buffer.from(await res.arrayBuffer());
        if (res.status === 200) assert.equal(sha(body), bigId);
        return res.status;
      };
      assert.equal(await call(a.tlsUrl), 401, 'no credential');
      const wrong = signMemberRequest(memberKeyOf(randomBytes(32)), {
        member: 'test-member',
        method: 'GET',
        path,
        nowMs: Date.now(),
      });
      assert.equal(await call(a.tlsUrl, wrong), 401, 'another key');
      assert.equal(await call(a.url, signed()), 401, 'plain HTTP');
      assert.equal(await call(a.tlsUrl, signed()), 200, 'signed, over HTTPS');
      await agent.close();
      t.diagnostic(
        `B served a 3 MiB object fetched from A (Range 206, sha256 matched), HEAD, the manifest, a view, a pack of ${packIds.length}; 8 concurrent GETs made 1 peer fetch; A's altered object refused by B (404); the test took ${Date.now() - t0} ms`,
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

/** Files left in the object store's temp directory. */
function readdirTmp(objects: string): number {
  const tmp = join(objects, 'tmp');
  return existsSync(tmp) ? readdirSync(tmp).length : 0;
}

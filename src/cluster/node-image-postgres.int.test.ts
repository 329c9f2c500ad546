// Kiln's node image between members for real (docs/cluster.md, "Content between members"; ADR 0016): two
// `kiln serve` on one PostgreSQL (loopback). A serves a small fixture node image from a directory (`--node-image
// <dir>`: a version file, a random "kernel" and "initrd"; building the real one takes minutes and the network) and
// records its files' sizes and SHA-256s in the store; B runs with `--node-image off`. B is asked for the kernel
// (unversioned: the version recorded last, then Range and HEAD) and the initrd (pinned with `?version=`); it fetches
// each from A over A's HTTPS API with the member credential and serves it only when it matches the record. A's
// initrd altered (one byte, same length) is refused by B first: logged, nothing kept, a 404. Fails, does not skip,
// when the local PostgreSQL is down.
import { after, test } from 'node:test';
import assert from 'node:assert/strict';
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
import pg from 'pg';
import { curl as curlIn, header } from '../../test/support/curl.js';
import { createTempPostgres, type TempPostgres } from '../../test/support/postgres.js';
import { startServe, type ServeProcess } from '../../test/support/serve-process.js';
import { killChild, stopChild } from '../../test/support/process.js';

const work = mkdtempSync(join(tmpdir(), 'kiln-node-image-'));
const serves: ServeProcess[] = [];
let database: TempPostgres | undefined;
after(async () => {
  for (const s of serves) killChild(s.child);
  await database?.drop();
  rmSync(work, { recursive: true, force: true });
});

const sha = (b: Uint8Array) => createHash('sha256').update(b).digest('hex');
const curl = (args: string[]) => curlIn(work, 30, args);

/** Waits (bounded) until `re` is in the member's output. */
async function waitFor(s: ServeProcess, re: RegExp, ms = 20_000): Promise<void> {
  for (const end = Date.now() + ms; Date.now() < end; await new Promise((r) => setTimeout(r, 100)))
    if (re.test(s.output())) return;
  throw new Error(`no ${re} in the output within ${ms} ms`);
}

test(
  "a node image only one member has is served through the other, each file checked against the store's record; a peer's altered file is refused",
  { timeout: 120_000 },
  async (t) => {
    const t0 = Date.now();
    database = await createTempPostgres('node_image');
    const config = join(work, 'kiln.yaml');
    writeFileSync(config, 'cluster: { heartbeatSeconds: 1, electionMs: 500, staleSeconds: 4 }\n');
    const version = '6.1.0-99-amd64-0123456789ab';
    const image = join(work, 'image');
    mkdirSync(image);
    const kernel = randomBytes(3 << 20);
    const initrd = randomBytes(2 << 20);
    writeFileSync(join(image, 'vmlinuz'), kernel);
    writeFileSync(join(image, 'initrd.img'), initrd);
    writeFileSync(join(image, 'version'), `${version}\n`);
    const dirA = join(work, 'a');
    const dirB = join(work, 'b');
    mkdirSync(dirA, { mode: 0o700 });
    mkdirSync(dirB, { mode: 0o700 });
    const env = { KILN_LOG_LEVEL: 'info' };
    const common = ['--config', config, '--database-url', database.url];
    const a = await startServe(['--data-dir', dirA, ...common, '--node-image', image], env);
    serves.push(a);
    await waitFor(a, /node image: files recorded in the store/);
    // Members share the store's data key (kiln controller join wraps it: join-postgres.int.test.ts); B keeps its own CAs.
    copyFileSync(join(dirA, 'data.key'), join(dirB, 'data.key'));
    const b = await startServe(['--data-dir', dirB, ...common, '--node-image', 'off'], env);
    serves.push(b);
    t.diagnostic(`both members up after ${Date.now() - t0} ms`);
    try {
      const db = new pg.Client({ connectionString: database.url });
      await db.connect();
      const rows = (
        await db.query<{ file: string; size: string; sha256: string; recorded_by: string }>(
          'select file, size, sha256, recorded_by from node_image_files where version = $1 order by file',
          [version],
        )
      ).rows;
      await db.end();
      assert.deepEqual(
        rows.map((r) => [r.file, Number(r.size), r.sha256]),
        [
          ['initrd.img', initrd.length, sha(initrd)],
          ['vmlinuz', kernel.length, sha(kernel)],
        ],
      );
      const copies = join(dirB, 'cache', 'node-image-peers', version);
      assert.equal(existsSync(copies), false, 'B starts without a copy');

      // A's initrd altered on disk after A recorded it (same length): B refuses it, keeps nothing, answers 404.
      const altered = Buffer.from(initrd);
      altered[altered.length - 100]! ^= 0xff;
      writeFileSync(join(image, 'initrd.img'), altered);
      const refused = await curl([`${b.url}/boot/kiln/x86_64/initrd.img?version=${version}`]);
      assert.equal(refused.status, 404, refused.body.toString());
      assert.match(b.output(), /sent bytes that do not hash to the id/);
      assert.equal(existsSync(join(copies, 'initrd.img')), false, 'nothing kept on B');
      assert.deepEqual(readdirSync(copies), [], 'no temp file left on B');
      writeFileSync(join(image, 'initrd.img'), initrd);

      // The kernel, unversioned: B has no image of its own and serves the version recorded last (A's).
      const ranged = await curl(['-r', '1000-1999', `${b.url}/boot/kiln/x86_64/vmlinuz`]);
      assert.equal(ranged.status, 206, ranged.headers);
      assert.deepEqual(ranged.body, kernel.subarray(1000, 2000));
      const whole = await curl([`${b.url}/boot/kiln/x86_64/vmlinuz`]);
      assert.equal(whole.status, 200);
      assert.equal(sha(whole.body), sha(kernel), 'the bytes B serves hash to the record');
      assert.deepEqual(readFileSync(join(copies, 'vmlinuz')), kernel);
      const head = await curl(['-I', `${b.url}/boot/kiln/x86_64/vmlinuz?version=${version}`]);
      assert.equal(head.status, 200);
      assert.equal(Number(header(head.headers, 'content-length')), kernel.length);

      // The initrd, pinned to A's version, now that A's file is as recorded again.
      const pinned = await curl([`${b.url}/boot/kiln/x86_64/initrd.img?version=${version}`]);
      assert.equal(pinned.status, 200, pinned.body.toString());
      assert.equal(sha(pinned.body), sha(initrd));
      const fetched = b
        .output()
        .split('\n')
        .filter((l) => l.includes('fetched from a peer') && l.includes('node-image'));
      assert.equal(fetched.length, 2, fetched.join('\n'));
      const other = await curl([`${b.url}/boot/kiln/x86_64/vmlinuz?version=6.1.0-99-amd64-ffffffffffff`]);
      assert.equal(other.status, 404, 'a version nobody recorded');
      t.diagnostic(
        `B served A's ${version}: a ${kernel.length}-byte kernel (Range 206, sha256 matched) and a ${initrd.length}-byte initrd, one peer fetch each; A's altered initrd refused (404); the test took ${Date.now() - t0} ms`,
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

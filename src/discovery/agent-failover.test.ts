// The node agent's API calls fail over across controllers (node/agent/lib.sh
// `api`, docs/cluster.md "One address for machines"): under busybox, against
// real HTTP servers on loopback: a controller that is down (a closed port) or
// answers with an error is passed over for the next of kiln.urls=, and the
// one that answered is asked first from then on. The image writer's fetches
// (lib.sh fetch_any: views, objects, packs; install.sh unpack_image: the
// tarball stream) move the plan's URL to the next controller when one gives
// no answer, and stop at a 4xx.
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { execFile, execFileSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { busyboxOnlyPath } from '../../test/support/busybox.js';
import { freePort } from '../../test/support/serve-process.js';
import { nodeScriptsDir } from './build-discovery-image.js';

const run = promisify(execFile);
const busybox = '/bin/busybox';
const agent = join(nodeScriptsDir, 'agent');
const skip = !existsSync(busybox) ? 'needs busybox' : false;
const work = mkdtempSync(join(tmpdir(), 'kiln-failover-'));
const servers: Server[] = [];
after(async () => {
  for (const s of servers) await new Promise((r) => s.close(r));
  rmSync(work, { recursive: true, force: true });
});

/** A controller stand-in: answers every node API call with `status` and counts the calls. */
async function controller(status: number, body: string): Promise<{ url: string; hits: string[] }> {
  const hits: string[] = [];
  const s = createServer((req, res) => {
    hits.push(`${req.method} ${req.url}`);
    req.resume();
    req.on('end', () => res.writeHead(status, { 'content-type': 'application/json' }).end(body));
  });
  servers.push(s);
  await new Promise<void>((r) => s.listen(0, '127.0.0.1', r));
  return { url: `http://127.0.0.1:${(s.address() as AddressInfo).port}`, hits };
}

/** A controller stand-in serving files: `files[path]` (200) or 404; counts the requests. */
async function fileServer(files: Record<string, Buffer | string>): Promise<{ url: string; hits: string[] }> {
  const hits: string[] = [];
  const s = createServer((req, res) => {
    hits.push(`${req.method} ${req.url}`);
    req.resume();
    const body = files[req.url ?? ''];
    req.on('end', () => (body === undefined ? res.writeHead(404).end('not here') : res.writeHead(200).end(body)));
  });
  servers.push(s);
  await new Promise<void>((r) => s.listen(0, '127.0.0.1', r));
  return { url: `http://127.0.0.1:${(s.address() as AddressInfo).port}`, hits };
}

async function sh(
  script: string,
  cmdline: string,
  runDir: string,
  env: Record<string, string> = {},
): Promise<{ code: number; out: string; err: string }> {
  const proc = join(runDir, 'proc');
  mkdirSync(proc, { recursive: true });
  writeFileSync(join(proc, 'cmdline'), `${cmdline}\n`);
  try {
    const r = await run(busybox, ['sh', '-c', `. "$KILN_LIB/lib.sh"; KILN_URL=$(cmdline_get kiln.url); ${script}`], {
      env: { PATH: busyboxOnlyPath(work), KILN_LIB: agent, KILN_PROC: proc, KILN_RUN: runDir, ...env },
      timeout: 60_000,
    });
    return { code: 0, out: r.stdout, err: r.stderr };
  } catch (err) {
    const e = err as { code?: number; stdout?: string; stderr?: string };
    return { code: e.code ?? -1, out: e.stdout ?? '', err: e.stderr ?? '' };
  }
}

test(
  'api: a dead controller and one answering 503 are passed over; the one that answered is asked first next time',
  { skip },
  async () => {
    const dead = `http://127.0.0.1:${await freePort()}`;
    const failing = await controller(503, '{"error":{"code":"store_unavailable"}}');
    const good = await controller(200, '{"ok":true}');
    const runDir = join(work, 'run1');
    mkdirSync(runDir);
    const cmdline = `console=ttyS0 kiln.url=${dead} kiln.urls=${dead},${failing.url},${good.url} kiln.mode=discover`;
    const first = await sh('api GET plan', cmdline, runDir);
    assert.equal(first.code, 0, first.err);
    assert.equal(first.out, '{"ok":true}');
    assert.match(first.err, new RegExp(`controller ${dead} did not answer; using ${good.url}`));
    assert.deepEqual(failing.hits, ['GET /api/v1/node/plan']);
    assert.deepEqual(good.hits, ['GET /api/v1/node/plan']);
    // A POST, in another shell (agents call api in command substitutions): straight to the one that answered.
    const second = await sh(`api POST progress '{"stage":"x"}'`, cmdline, runDir);
    assert.equal(second.code, 0, second.err);
    assert.deepEqual(failing.hits, ['GET /api/v1/node/plan'], 'the failing controller is not asked again');
    assert.deepEqual(good.hits, ['GET /api/v1/node/plan', 'POST /api/v1/node/progress']);
    assert.doesNotMatch(second.err, /did not answer/);
  },
);

test('api: without kiln.urls= it calls kiln.url alone, and fails when that fails', { skip }, async () => {
  const dead = `http://127.0.0.1:${await freePort()}`;
  const good = await controller(200, '{"ok":1}');
  const runDir = join(work, 'run2');
  mkdirSync(runDir);
  const one = await sh('api GET plan', `kiln.url=${good.url}`, runDir);
  assert.equal(one.code, 0, one.err);
  assert.equal(one.out, '{"ok":1}');
  const runDead = join(work, 'run3');
  mkdirSync(runDead);
  const none = await sh('api GET plan', `kiln.url=${dead}`, runDead);
  assert.notEqual(none.code, 0);
  assert.equal(none.out, '');
});

test(
  "fetch_any: the plan's controller gives no answer: the same path from the next; a 4xx is final",
  { skip },
  async () => {
    const dead = `http://127.0.0.1:${await freePort()}`;
    const good = await fileServer({ '/images/manifests/m1/files': 'abc 3 ./x\n' });
    const runDir = join(work, 'fetch1');
    mkdirSync(runDir);
    // The plan was made by the dead member; the one that answered the plan (controller-url) is another.
    writeFileSync(join(runDir, 'controller-urls'), `${dead}\n${good.url}\n`);
    const cmdline = `kiln.url=${dead} kiln.mode=install`;
    const got = await sh(
      `fetch_any 10 "$KILN_RUN/files" "${dead}/images/manifests/m1/files" && cat "$KILN_RUN/files"`,
      cmdline,
      runDir,
    );
    assert.equal(got.code, 0, got.err);
    assert.equal(got.out, 'abc 3 ./x\n');
    assert.match(got.err, /gave no answer; trying the other controllers/);
    assert.deepEqual(good.hits, ['GET /images/manifests/m1/files']);

    // A member that answers 404 (it does not hold the image): final, the next is not asked.
    const lacking = await fileServer({});
    const third = await fileServer({ '/images/objects/ab12': 'x' });
    const runDir2 = join(work, 'fetch2');
    mkdirSync(runDir2);
    const cmdline2 = `kiln.url=${dead} kiln.urls=${dead},${lacking.url},${third.url}`;
    const refused = await sh(`fetch_any 10 "$KILN_RUN/o" "${dead}/images/objects/ab12"`, cmdline2, runDir2);
    assert.notEqual(refused.code, 0);
    assert.deepEqual(lacking.hits, ['GET /images/objects/ab12']);
    assert.deepEqual(third.hits, [], 'a 4xx is an answer: no other controller is asked');

    // A URL under no controller is fetched as it is, once.
    const elsewhere = await fileServer({ '/f': 'y' });
    const one = await sh(`fetch_any 10 - "${elsewhere.url}/f"`, cmdline2, runDir2);
    assert.equal(one.out, 'y');
  },
);

test(
  'unpack_image: the tarball stream from the next controller when the plan names a dead one, checked by its SHA-256',
  { skip },
  async () => {
    const src = join(work, 'img-src');
    mkdirSync(join(src, 'etc'), { recursive: true });
    writeFileSync(join(src, 'etc/os-release'), 'ID=kiln-test\n');
    const tgz = execFileSync('tar', ['-C', src, '-czf', '-', '.']);
    const sha = createHash('sha256').update(tgz).digest('hex');
    const dead = `http://127.0.0.1:${await freePort()}`;
    const good = await fileServer({ '/images/t.tar.gz': tgz });
    const runDir = join(work, 'unpack1');
    const target = join(work, 'target1');
    mkdirSync(runDir);
    mkdirSync(target);
    const cmdline = `kiln.url=${dead} kiln.urls=${dead},${good.url}`;
    const env = { KILN_TARGET: target, KILN_BIN: join(work, 'no-bin') };
    const r = await sh(
      `. "$KILN_LIB/install.sh"; unpack_image "${dead}/images/t.tar.gz" ${sha} tar.gz`,
      cmdline,
      runDir,
      env,
    );
    assert.equal(r.code, 0, `${r.out}\n${r.err}`);
    assert.match(r.out, new RegExp(`${dead}/images/t.tar.gz gave no answer`));
    assert.equal(readFileSync(join(target, 'etc/os-release'), 'utf8'), 'ID=kiln-test\n');
    assert.deepEqual(good.hits, ['GET /images/t.tar.gz']);

    // A wrong digest fails, and is not taken for a dead controller (no second stream).
    const runDir2 = join(work, 'unpack2');
    mkdirSync(runDir2);
    const bad = await sh(
      `. "$KILN_LIB/install.sh"; unpack_image "${good.url}/images/t.tar.gz" ${'0'.repeat(64)} tar.gz`,
      `kiln.url=${good.url} kiln.urls=${good.url},${dead}`,
      runDir2,
      env,
    );
    assert.notEqual(bad.code, 0);
    assert.match(bad.out, /image sha256 mismatch/);
    assert.equal(good.hits.length, 2);
  },
);

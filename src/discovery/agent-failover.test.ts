// The node agent's API calls fail over across controllers (node/agent/lib.sh
// `api`, docs/cluster.md "One address for machines"): under busybox, against
// real HTTP servers on loopback: a controller that is down (a closed port) or
// answers with an error is passed over for the next of kiln.urls=, and the
// one that answered is asked first from then on.
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
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

async function sh(
  script: string,
  cmdline: string,
  runDir: string,
): Promise<{ code: number; out: string; err: string }> {
  const proc = join(runDir, 'proc');
  mkdirSync(proc, { recursive: true });
  writeFileSync(join(proc, 'cmdline'), `${cmdline}\n`);
  try {
    const r = await run(busybox, ['sh', '-c', `. "$KILN_LIB/lib.sh"; KILN_URL=$(cmdline_get kiln.url); ${script}`], {
      env: { PATH: busyboxOnlyPath(work), KILN_LIB: agent, KILN_PROC: proc, KILN_RUN: runDir },
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

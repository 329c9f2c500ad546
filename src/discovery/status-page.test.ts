// The installer's status page (node/agent/status.sh) under the busybox the
// node image ships: a fake install sequence (the writer's own progress, step
// and status functions, the API call stubbed) starts busybox httpd on
// 127.0.0.1 and a free port, and curl fetches status.json between stages.
// Proves: the page answers during the install with the stage, progress and
// bytes fetched and reused; a failed step shows state failed; no served file
// carries the node credential or the root hash even when the log and a step's
// output hold them; POST and PUT are refused and leave the page as it was;
// no path outside the document root is served (.., encoded .., the httpd
// config beside it); httpd runs as uid 65534.
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import {
  chmodSync,
  existsSync,
  mkdirSync,
  mkdtempSync,
  readFileSync,
  readdirSync,
  rmSync,
  writeFileSync,
} from 'node:fs';
import { createServer, type AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { BUSYBOX, busyboxOnlyPath } from '../../test/support/busybox.js';
import { nodeScriptsDir } from './build-discovery-image.js';

const run = promisify(execFile);
const curl = '/usr/bin/curl';
const agent = join(nodeScriptsDir, 'agent');
const skip =
  !existsSync(BUSYBOX) || !existsSync(curl)
    ? 'needs busybox and curl'
    : process.getuid?.() !== 0
      ? 'needs root (httpd -u 65534)'
      : false;

const work = mkdtempSync(join(tmpdir(), 'kiln-status-'));
// httpd runs as uid 65534: it must reach the document root (/run/kiln-status on the node).
chmodSync(work, 0o755);
const credential = 'kiln-node-credential-0123456789abcdef';
const rootHash = '$6$kilnsalt0123456$' + 'h'.repeat(86);
let httpdPid = 0;

after(() => {
  if (httpdPid > 0) {
    try {
      process.kill(httpdPid);
    } catch {
      // already gone
    }
  }
  rmSync(work, { recursive: true, force: true });
});

async function freePort(): Promise<number> {
  const s = createServer();
  await new Promise<void>((r) => s.listen(0, '127.0.0.1', r));
  const port = (s.address() as AddressInfo).port;
  await new Promise<void>((r) => s.close(() => r()));
  return port;
}

/** curl against the page: status code and body. */
async function fetchPage(port: number, path: string, args: string[] = []): Promise<{ code: number; body: string }> {
  const r = await run(curl, [
    '-s',
    '--max-time',
    '5',
    '-w',
    '\n%{http_code}',
    ...args,
    `http://127.0.0.1:${port}${path}`,
  ]);
  const i = r.stdout.lastIndexOf('\n');
  return { code: Number(r.stdout.slice(i + 1)), body: r.stdout.slice(0, i) };
}

test('status page: stage, progress and bytes during a fake install; no secret; read-only', { skip }, async () => {
  const port = await freePort();
  const runDir = join(work, 'run');
  const snaps = join(work, 'snaps');
  mkdirSync(runDir, { mode: 0o700 });
  mkdirSync(snaps);
  writeFileSync(join(runDir, 'credential'), credential, { mode: 0o600 });
  // The sequence: status_start, the stages as install.sh reports them (the objects
  // stage's byte counts through status_bytes, as objects.sh calls it), a step whose
  // output holds the secrets and fails; curl fetches status.json after each.
  const script = `. "$KILN_LIB/lib.sh"; . "$KILN_LIB/status.sh"; . "$KILN_LIB/install.sh"
api() { return 1; }
install_halt() { echo "$KILN_STATUS_PID" > "$SNAPS/pid"; exit 0; }
snap() { ${curl} -s --max-time 5 -o "$SNAPS/$1.json" "http://127.0.0.1:$KILN_STATUS_PORT/status.json"; }
status_start
i=0; while ! snap start && [ $i -lt 50 ]; do sleep 0.1; i=$((i + 1)); done
PLAN=$(printf '{"hostname":"node-7.example"}' | json_flatten)
progress clock "clock set from the controller"; snap clock
log "debug: Authorization: Bearer $(cat "$KILN_RUN/credential")"
progress objects "gathering the image's objects"
status_bytes 4096 0 1000000; snap objects-1
status_bytes 250000 750000 1000000; snap objects-2
progress partition "partitioning /dev/vda"; snap partition
leak() { echo "root-password-hash $ROOT_HASH"; echo "credential $(cat "$KILN_RUN/credential")"; return 1; }
step secrets "applying root's password hash" leak
`;
  await run(BUSYBOX, ['sh', '-c', script], {
    env: {
      PATH: busyboxOnlyPath(work),
      KILN_LIB: agent,
      KILN_RUN: runDir,
      KILN_STATUS_DIR: join(work, 'status'),
      KILN_STATUS_BIND: '127.0.0.1',
      KILN_STATUS_PORT: String(port),
      SNAPS: snaps,
      ROOT_HASH: rootHash,
      KILN_TRIES: '1',
    },
    timeout: 30_000,
  });
  httpdPid = Number(readFileSync(join(snaps, 'pid'), 'utf8'));
  assert.ok(httpdPid > 0, 'httpd started');

  const snap = (n: string) => JSON.parse(readFileSync(join(snaps, `${n}.json`), 'utf8')) as Record<string, unknown>;
  assert.equal(snap('start').stage, 'start');
  assert.equal(snap('start').host, null, 'no plan yet');
  const clock = snap('clock');
  assert.deepEqual([clock.stage, clock.state, clock.step, clock.steps, clock.percent], ['clock', 'running', 1, 14, 7]);
  assert.equal(clock.host, 'node-7.example');
  assert.equal(clock.bytes, null);
  assert.deepEqual(snap('objects-1').bytes, { fetched: 4096, reused: 0, total: 1_000_000 });
  const o2 = snap('objects-2');
  assert.deepEqual([o2.stage, o2.message], ['objects', "gathering the image's objects"]);
  assert.deepEqual(o2.bytes, { fetched: 250_000, reused: 750_000, total: 1_000_000 });
  assert.equal(snap('partition').percent, 28);
  assert.ok((snap('partition').log as string[]).includes('[partition] partitioning /dev/vda'));

  // The live page now: the failed step, still served (the node stays up for inspection).
  const now = await fetchPage(port, '/status.json');
  assert.equal(now.code, 200);
  const failed = JSON.parse(now.body) as Record<string, unknown>;
  assert.deepEqual([failed.stage, failed.state], ['secrets', 'failed']);
  assert.match(String(failed.message), /applying root's password hash failed: root-password-hash \[redacted\]/);
  const html = await fetchPage(port, '/');
  assert.equal(html.code, 200);
  assert.match(html.body, /Stage <strong id="stage">secrets<\/strong>/);
  assert.match(html.body, /Objects: 250000 bytes fetched, 750000 bytes reused, of 1000000/);

  // No secret in anything served: every snapshot, the live page, and every file of the root.
  const served = [
    ...readdirSync(snaps)
      .filter((f) => f.endsWith('.json'))
      .map((f) => readFileSync(join(snaps, f), 'utf8')),
    now.body,
    html.body,
    ...readdirSync(join(work, 'status', 'www')).map((f) => readFileSync(join(work, 'status', 'www', f), 'utf8')),
  ];
  assert.deepEqual(readdirSync(join(work, 'status', 'www')).sort(), ['index.html', 'status.json']);
  for (const text of served) {
    assert.ok(!text.includes(credential), 'the credential is never served');
    assert.ok(!text.includes(rootHash) && !text.includes('$6$kilnsalt'), 'the root hash is never served');
  }
  assert.ok(
    served.some((t) => t.includes('Bearer [redacted]')),
    'the log line was served, redacted',
  );

  // Read-only: POST and PUT refused, the page unchanged; nothing outside the root.
  for (const method of ['POST', 'PUT', 'DELETE']) {
    const r = await fetchPage(port, '/status.json', ['-X', method, '--data', '{"stage":"x"}']);
    assert.equal(r.code, 501, `${method} is refused`);
  }
  assert.equal((await fetchPage(port, '/status.json')).body, now.body, 'the page is as it was');
  assert.equal((await fetchPage(port, '/../httpd.conf', ['--path-as-is'])).code, 400);
  assert.equal((await fetchPage(port, '/%2e%2e/%2e%2e/etc/passwd')).code, 400);
  assert.equal((await fetchPage(port, '/../../run/credential', ['--path-as-is'])).code, 400);
  // busybox httpd refuses its config's name anywhere; the agent's log beside the root is not in it.
  assert.equal((await fetchPage(port, '/httpd.conf')).code, 403);
  assert.equal((await fetchPage(port, '/tmp/log')).code, 404);
  assert.equal((await fetchPage(port, '/cgi-bin/sh')).code, 404);
  const status = readFileSync(`/proc/${httpdPid}/status`, 'utf8');
  assert.match(status, /^Uid:\s+65534\s/m, 'httpd runs as uid 65534');
});

// The installed system's heartbeat agent fails over across controllers
// (node/heartbeat/kiln-heartbeat.sh hb_post, docs/cluster.md "One address for
// machines"), under busybox sh against real HTTP and HTTPS servers on
// loopback: a controller that gives no answer is passed over for the next of
// /etc/kiln/urls (wget, plain HTTP) or /etc/kiln/api-urls (curl, HTTPS
// verified against ca.pem, which holds every member's CA); the one that
// answered is asked first from then on; a 4xx answer is final; the lists are
// rewritten from the reply's `url` and `api-url` lines, and ca.pem from the
// CA bundle a verified HTTPS reply carries.
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { createHash } from 'node:crypto';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import { createServer as createHttpsServer } from 'node:https';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, test } from 'node:test';
import { promisify } from 'node:util';
import { BUSYBOX, busyboxOnlyPath } from '../../test/support/busybox.js';
import { freePort } from '../../test/support/serve-process.js';
import { loadTrust } from '../trust/load-trust.js';

const run = promisify(execFile);
const node = new URL('../../node/', import.meta.url).pathname;
const skip = existsSync(BUSYBOX) && existsSync('/usr/bin/curl') ? false : `needs ${BUSYBOX} and curl`;
const work = mkdtempSync(join(tmpdir(), 'kiln-hb-failover-'));
const servers: Server[] = [];
after(async () => {
  for (const s of servers) await new Promise((r) => s.close(r));
  rmSync(work, { recursive: true, force: true });
});

type Answer = { status: number; body: string };

/** A controller stand-in for POST /api/v1/node/heartbeat: answers `answer()` and counts the calls. */
function listen(s: Server, answer: () => Answer, hits: string[]): void {
  s.on('request', (req, res) => {
    hits.push(`${req.method} ${req.url}`);
    req.resume();
    req.on('end', () => {
      const a = answer();
      res.writeHead(a.status, { 'content-type': 'text/plain' }).end(a.body);
    });
  });
  servers.push(s);
}

async function httpController(answer: () => Answer): Promise<{ url: string; hits: string[] }> {
  const hits: string[] = [];
  const s = createServer();
  listen(s, answer, hits);
  await new Promise<void>((r) => s.listen(0, '127.0.0.1', r));
  return { url: `http://127.0.0.1:${(s.address() as AddressInfo).port}`, hits };
}

/** A fake /proc with what hb_body reads, and /etc/kiln with a credential; the host counts as audited already. */
function host(name: string): { etc: string; env: Record<string, string> } {
  const root = join(work, name);
  const proc = join(root, 'proc');
  mkdirSync(join(proc, 'sys/kernel/random'), { recursive: true });
  writeFileSync(join(proc, 'uptime'), '123.45 100.00\n');
  writeFileSync(join(proc, 'meminfo'), 'MemTotal: 1000 kB\nMemAvailable: 500 kB\n');
  writeFileSync(join(proc, 'loadavg'), '0.10 0.20 0.30 1/100 1234\n');
  writeFileSync(join(proc, 'mounts'), '');
  writeFileSync(join(proc, 'cmdline'), 'console=ttyS0\n');
  writeFileSync(join(proc, 'sys/kernel/random/boot_id'), '11111111-2222-3333-4444-555555555555\n');
  writeFileSync(join(proc, 'sys/kernel/osrelease'), '6.1.0\n');
  const etc = join(root, 'etc-kiln');
  mkdirSync(etc);
  writeFileSync(join(etc, 'credential'), 'kiln-node-test-credential\n', { mode: 0o600 });
  const state = join(root, 'state');
  mkdirSync(state, { mode: 0o700 });
  writeFileSync(join(state, 'audited'), '');
  return {
    etc,
    env: {
      KILN_ETC: etc,
      KILN_HB_STATE: state,
      KILN_PROC: proc,
      KILN_SYS: join(root, 'sys'),
      KILN_SSH_DIR: join(root, 'ssh'),
      KILN_SYSTEMD_RUN: join(root, 'no-systemd'),
      KILN_SSHD_PID: join(root, 'no-sshd.pid'),
    },
  };
}

/** One heartbeat (hb_send) under busybox sh with `path`; its exit code and stderr. */
async function beat(env: Record<string, string>, path: string): Promise<{ code: number; err: string }> {
  try {
    const r = await run(BUSYBOX, ['sh', '-c', `. "${node}heartbeat/kiln-heartbeat.sh"; HB_INTERVAL=60; hb_send`], {
      env: { PATH: path, KILN_LIB: join(node, 'agent'), KILN_HB_SOURCE_ONLY: '1', ...env },
      timeout: 60_000,
    });
    return { code: 0, err: r.stderr };
  } catch (err) {
    const e = err as { code?: number; stderr?: string };
    return { code: e.code ?? -1, err: e.stderr ?? '' };
  }
}

test(
  'wget over HTTP: a dead controller is passed over, the lists come from the reply, the one that answered is asked first',
  { skip },
  async () => {
    const dead = `http://127.0.0.1:${await freePort()}`;
    const third = await httpController(() => ({ status: 200, body: 'interval 30\n' }));
    let good = { url: '', hits: [] as string[] };
    good = await httpController(() => ({
      status: 200,
      body: `interval 30\naudit 0\nkrl-sha256 00\nurl ${good.url}\nurl ${third.url}\napi-url https://127.0.0.1:1\nca-sha256 ${'0'.repeat(64)}\nca ${Buffer.from('-----BEGIN CERTIFICATE-----\n').toString('base64')}\n`,
    }));
    const h = host('wget');
    writeFileSync(join(h.etc, 'url'), `${dead}\n`);
    writeFileSync(join(h.etc, 'urls'), `${dead}\n${good.url}\n`);
    const path = busyboxOnlyPath(work);

    const first = await beat(h.env, path);
    assert.equal(first.code, 0, first.err);
    assert.match(first.err, new RegExp(`heartbeat to ${dead} gave no answer; trying the next controller`));
    assert.deepEqual(good.hits, ['POST /api/v1/node/heartbeat']);
    assert.equal(readFileSync(join(h.etc, 'urls'), 'utf8'), `${good.url}\n${third.url}\n`, 'refreshed from the reply');
    assert.equal(existsSync(join(h.etc, 'api-urls')), false, 'no HTTPS API on this host: no api-urls kept');
    assert.equal(existsSync(join(h.etc, 'ca.pem')), false, 'a CA bundle over plain HTTP is never taken');

    const second = await beat(h.env, path);
    assert.equal(second.code, 0, second.err);
    assert.doesNotMatch(second.err, /gave no answer/, 'straight to the one that answered');
    assert.equal(good.hits.length, 2);
    assert.deepEqual(third.hits, []);
  },
);

test('a 4xx answer is final: the next controller is not asked', { skip }, async () => {
  const refusing = await httpController(() => ({ status: 401, body: 'no' }));
  const good = await httpController(() => ({ status: 200, body: 'interval 30\n' }));
  const h = host('refused');
  writeFileSync(join(h.etc, 'url'), `${refusing.url}\n`);
  writeFileSync(join(h.etc, 'urls'), `${refusing.url}\n${good.url}\n`);
  const r = await beat(h.env, busyboxOnlyPath(work));
  assert.notEqual(r.code, 0);
  assert.deepEqual(refusing.hits, ['POST /api/v1/node/heartbeat']);
  assert.deepEqual(good.hits, []);
});

test(
  "curl over HTTPS: past a dead member to one whose certificate another member's CA signed (ca.pem holds both)",
  { skip },
  async () => {
    const names = { dnsNames: ['localhost'], ipAddresses: ['127.0.0.1'] };
    const a = await loadTrust({ dataDir: join(work, 'trust-a'), server: { kind: 'issue', ...names } });
    const b = await loadTrust({ dataDir: join(work, 'trust-b'), server: { kind: 'issue', ...names } });
    const c = await loadTrust({ dataDir: join(work, 'trust-c'), server: { kind: 'issue', ...names } });
    // Every member's CA as the controller hands it out: C joined after this host was installed.
    const bundle = [a, b, c].map((t) => `${t.tlsCa.certPem.trim()}\n`).join('');
    const sha = createHash('sha256').update(bundle).digest('hex');
    const hits: string[] = [];
    let bUrl = '';
    const s = createHttpsServer({ cert: b.server.certPem, key: b.server.keyPem });
    listen(
      s,
      () => ({
        status: 200,
        body: `interval 30\napi-url ${bUrl}\napi-url http://127.0.0.1:2\nurl http://127.0.0.1:3\nca-sha256 ${sha}\nca ${Buffer.from(bundle).toString('base64')}\n`,
      }),
      hits,
    );
    await new Promise<void>((r) => s.listen(0, '127.0.0.1', r));
    bUrl = `https://127.0.0.1:${(s.address() as AddressInfo).port}`;
    const deadA = `https://127.0.0.1:${await freePort()}`;
    const h = host('curl');
    writeFileSync(join(h.etc, 'url'), 'http://127.0.0.1:3\n');
    writeFileSync(join(h.etc, 'api-url'), `${deadA}\n`);
    writeFileSync(join(h.etc, 'api-urls'), `${deadA}\n${bUrl}\n`);
    writeFileSync(join(h.etc, 'ca.pem'), `${a.tlsCa.certPem.trim()}\n${b.tlsCa.certPem.trim()}\n`);
    const bin = join(work, 'curl-bin');
    mkdirSync(bin);
    symlinkSync('/usr/bin/curl', join(bin, 'curl'));
    const path = `${bin}:${busyboxOnlyPath(work)}`;

    const r = await beat(h.env, path);
    assert.equal(r.code, 0, r.err);
    assert.match(r.err, new RegExp(`heartbeat to ${deadA} gave no answer`));
    assert.deepEqual(hits, ['POST /api/v1/node/heartbeat']);
    assert.equal(readFileSync(join(h.etc, 'api-urls'), 'utf8'), `${bUrl}\n`, 'only https:// members are kept');
    assert.equal(
      readFileSync(join(h.etc, 'ca.pem'), 'utf8'),
      bundle,
      "the verified reply's CA bundle (C joined later)",
    );

    // Without B's CA in ca.pem, B's certificate does not verify: no answer from anyone, nothing sent in the clear.
    writeFileSync(join(h.etc, 'ca.pem'), a.tlsCa.certPem);
    rmSync(join(h.env['KILN_HB_STATE']!, 'answered-api-urls'));
    const refused = await beat(h.env, path);
    assert.notEqual(refused.code, 0);
    assert.equal(hits.length, 1, 'the TLS handshake failed before any request');
  },
);

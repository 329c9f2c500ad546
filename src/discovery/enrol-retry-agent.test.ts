// The agent's discovery report (node/agent/discover.sh discover_report) under the image's busybox, against a real
// in-memory controller on loopback behind a proxy that loses the first answer: the controller enrols the host and
// commits, the proxy resets the connection instead of answering. The agent's retry carries the same enrolment
// secret and gets a fresh credential, which works; the first one, never delivered, does not.
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { createTestController, type TestController } from '../../test/support/controller.js';
import { BUSYBOX, busyboxOnlyPath } from '../../test/support/busybox.js';
import { startLossyProxy, type LossyProxy } from '../../test/support/lossy-proxy.js';
import { nodeScriptsDir } from './build-discovery-image.js';

const agent = join(nodeScriptsDir, 'agent');
const skip = !existsSync(BUSYBOX) ? 'needs busybox' : false;
const MAC = '52:54:00:e3:00:01';
const facts = JSON.stringify({ bootMac: MAC, firmware: 'bios', nics: [{ name: 'eth0', mac: MAC }] });

const DISCOVER = '/api/v1/node/discover';
const ENROL = '/api/v1/node/enrol';

function sh(root: string, port: number, script: string): Promise<{ code: number; out: string; err: string }> {
  const env = {
    PATH: busyboxOnlyPath(root),
    KILN_LIB: agent,
    KILN_PROC: join(root, 'proc'),
    KILN_RUN: join(root, 'run'),
    KILN_TRIES: '3',
  };
  mkdirSync(join(root, 'proc'), { recursive: true });
  mkdirSync(join(root, 'run'), { recursive: true });
  writeFileSync(join(root, 'proc/cmdline'), `kiln.url=http://127.0.0.1:${port} kiln.mode=discover\n`);
  const argv = [
    'sh',
    '-c',
    `. "$KILN_LIB/lib.sh"; . "$KILN_LIB/discover.sh"; KILN_URL=$(cmdline_get kiln.url); ${script}`,
  ];
  return new Promise((resolve) => {
    execFile(BUSYBOX, argv, { encoding: 'utf8', timeout: 60_000, env }, (err, out, errText) =>
      resolve({ code: err ? Number((err as { code?: number }).code ?? -1) : 0, out, err: errText }),
    );
  });
}

describe('agent: a lost discovery answer is retried with the enrolment secret', { skip }, () => {
  let c: TestController;
  let proxy: LossyProxy;
  let port = 0;
  const work = mkdtempSync(join(tmpdir(), 'kiln-enrol-retry-'));
  before(async () => {
    c = await createTestController();
    await c.app.listen({ host: '127.0.0.1', port: 0 });
    // The first answer to a discovery report, and the first to an installer's enrolment, is lost.
    proxy = await startLossyProxy((c.app.server.address() as AddressInfo).port);
    proxy.loseNext(DISCOVER);
    proxy.loseNext(ENROL);
    port = proxy.port;
  });
  after(async () => {
    await proxy.close();
    await c.close();
    rmSync(work, { recursive: true, force: true });
  });

  it('enrol_secret: ke_ and 64 hex digits, made once per boot (run directory), readable by root only', async () => {
    const a = await sh(join(work, 'boot1'), port, 'enrol_secret; echo; enrol_secret');
    assert.equal(a.code, 0, a.err);
    const [first, second] = a.out.split('\n');
    assert.match(first!, /^ke_[0-9a-f]{64}$/);
    assert.equal(second, first, 'the same secret on every try of this boot');
    assert.equal(statSync(join(work, 'boot1/run/enrol-secret')).mode & 0o777, 0o600);
    const b = await sh(join(work, 'boot2'), port, 'enrol_secret');
    assert.notEqual(b.out, first, 'another boot, another secret');
  });

  it('the first answer is lost; the retry gets a credential that works, and the lost one does not', async () => {
    const root = join(work, 'node');
    const r = await sh(
      root,
      port,
      `answer=$(discover_report '${facts}') || exit 1
       flat=$(printf '%s' "$answer" | json_flatten); store_credential "$flat"
       api GET next`,
    );
    assert.equal(r.code, 0, r.err);
    assert.match(r.err, /POST discover failed, retrying in 1s/);
    assert.deepEqual(JSON.parse(r.out), { action: 'wait' });
    assert.equal(proxy.sent(DISCOVER).length, 2);
    const sent = proxy.sent(DISCOVER).map((p) => (JSON.parse(p) as { enrolSecret: string }).enrolSecret);
    assert.match(sent[0]!, /^ke_[0-9a-f]{64}$/);
    assert.equal(sent[1], sent[0]);
    const lostCredential = (JSON.parse(proxy.lost(DISCOVER)[0]!) as { credential: string }).credential;
    const kept = readFileSync(join(root, 'run/credential'), 'utf8');
    assert.match(kept, /^kn_/);
    assert.notEqual(kept, lostCredential);
    const next = (cred: string) =>
      c.app.inject({ method: 'GET', url: '/api/v1/node/next', headers: { authorization: `Bearer ${cred}` } });
    assert.equal((await next(lostCredential)).statusCode, 401);
    assert.equal((await next(kept)).statusCode, 200);
    const host = await c.inventory.findHostByMac(MAC as Parameters<typeof c.inventory.findHostByMac>[0]);
    const events = await c.app.inject({
      url: `/api/v1/hosts/${host!.name}/events?limit=100`,
      headers: { authorization: c.bearer.admin },
    });
    const kinds = (events.json() as { items: { kind: string }[] }).items.map((e) => e.kind);
    assert.equal(kinds.filter((k) => k === 'node.enrolled').length, 1);
    assert.equal(kinds.filter((k) => k === 'node.enrol_retried').length, 1);
  });

  it("an installer's enrolment (install.sh, wipe.sh: enrol_body) whose answer is lost is retried the same way", async () => {
    const host = await c.inventory.findHostByMac(MAC as Parameters<typeof c.inventory.findHostByMac>[0]);
    assert.ok(host, 'the host of the discovery test');
    const armed = await c.app.inject({
      method: 'POST',
      url: `/api/v1/hosts/${host.name}/rearm`,
      headers: { authorization: c.bearer.admin },
      payload: { reason: 'test: install' },
    });
    assert.equal(armed.statusCode, 200, armed.body);
    const root = join(work, 'installer');
    const r = await sh(
      root,
      port,
      `answer=$(api_retry POST enrol "$(enrol_body '${MAC}')") || exit 1
       flat=$(printf '%s' "$answer" | json_flatten); store_credential "$flat"
       api GET next`,
    );
    assert.equal(r.code, 0, r.err);
    assert.match(r.err, /POST enrol failed, retrying in 1s/);
    assert.equal(proxy.sent(ENROL).length, 2);
    const sent = proxy.sent(ENROL).map((p) => JSON.parse(p) as { mac: string; enrolSecret: string });
    assert.equal(sent[0]!.mac, MAC);
    assert.match(sent[0]!.enrolSecret, /^ke_[0-9a-f]{64}$/);
    assert.equal(sent[1]!.enrolSecret, sent[0]!.enrolSecret, 'the same secret on the retry');
    const lostCredential = (JSON.parse(proxy.lost(ENROL)[0]!) as { credential: string }).credential;
    const kept = readFileSync(join(root, 'run/credential'), 'utf8');
    assert.notEqual(kept, lostCredential);
    const next = (cred: string) =>
      c.app.inject({ method: 'GET', url: '/api/v1/node/next', headers: { authorization: `Bearer ${cred}` } });
    assert.equal((await next(lostCredential)).statusCode, 401, 'the lost credential was replaced');
    assert.equal((await next(kept)).statusCode, 200);
    // Once used, the credential closes the retry: the same secret again is refused.
    const again = await c.app.inject({
      method: 'POST',
      url: '/api/v1/node/enrol',
      payload: JSON.parse(proxy.sent(ENROL)[0]!) as object,
    });
    assert.equal(again.statusCode, 403);
    assert.equal((again.json() as { error: { code: string } }).error.code, 'enrolment_closed');
  });
});

// The image writer's last progress report (node/agent/install.sh report_installed, stage "installed") under the
// image's busybox, against a real in-memory controller on loopback behind a proxy that loses answers: the
// controller takes the report and commits, the proxy resets the connection instead of answering. The agent retries
// with back-off; the controller answers the repeat as the first and records one event and one deployment write.
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
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
const PROGRESS = '/api/v1/node/progress';

function sh(root: string, port: number, credential: string): Promise<{ code: number; out: string; err: string }> {
  const env = {
    PATH: busyboxOnlyPath(root),
    KILN_LIB: agent,
    KILN_PROC: join(root, 'proc'),
    KILN_RUN: join(root, 'run'),
    KILN_TRIES: '3',
  };
  mkdirSync(join(root, 'proc'), { recursive: true });
  mkdirSync(join(root, 'run'), { recursive: true, mode: 0o700 });
  writeFileSync(join(root, 'proc/cmdline'), `kiln.url=http://127.0.0.1:${port} kiln.mode=install\n`);
  writeFileSync(join(root, 'run/credential'), credential, { mode: 0o600 });
  const argv = [
    'sh',
    '-c',
    `. "$KILN_LIB/lib.sh"; . "$KILN_LIB/install.sh"; KILN_URL=$(cmdline_get kiln.url); report_installed reboot`,
  ];
  return new Promise((resolve) => {
    execFile(BUSYBOX, argv, { encoding: 'utf8', timeout: 60_000, env }, (err, out, errText) =>
      resolve({ code: err ? Number((err as { code?: number }).code ?? -1) : 0, out, err: errText }),
    );
  });
}

describe('agent: a lost answer to the last progress report (installed) is retried; recorded once', { skip }, () => {
  let c: TestController;
  let proxy: LossyProxy;
  const work = mkdtempSync(join(tmpdir(), 'kiln-installed-retry-'));
  let hosts = 0;
  before(async () => {
    c = await createTestController();
    await c.app.listen({ host: '127.0.0.1', port: 0 });
    proxy = await startLossyProxy((c.app.server.address() as AddressInfo).port);
  });
  after(async () => {
    await proxy.close();
    await c.close();
    rmSync(work, { recursive: true, force: true });
  });

  const op = (method: 'GET' | 'POST', url: string, payload?: object) =>
    c.app.inject({ method, url: `/api/v1/${url}`, headers: { authorization: c.bearer.admin }, payload });
  /** A host deployed with debian-12 whose image writer enrolled: its name and credential. */
  async function deploying(): Promise<{ name: string; credential: string }> {
    hosts++;
    const name = `inst-${hosts}`;
    const mac = `52:54:00:e6:00:${hosts.toString(16).padStart(2, '0')}`;
    assert.equal((await op('POST', 'hosts', { name, state: 'ready', nics: [{ mac }] })).statusCode, 201);
    assert.equal((await op('POST', `hosts/${name}/deploy`, { profile: 'debian-12' })).statusCode, 200);
    const r = await c.app.inject({ method: 'POST', url: '/api/v1/node/enrol', payload: { mac } });
    assert.equal(r.statusCode, 200, r.body);
    return { name, credential: (r.json() as { credential: string }).credential };
  }
  const installedEvents = async (host: string) =>
    (
      (await op('GET', `hosts/${host}/events?limit=1000`)).json() as { items: { kind: string; message: string }[] }
    ).items.filter((e) => e.kind === 'node.progress' && e.message.startsWith('installed:'));
  const deploymentStatus = async (host: string) =>
    ((await op('GET', `hosts/${host}/deployments`)).json() as { items: { status: string }[] }).items[0]!.status;

  it('the first answer is lost: the retry is answered, and the controller recorded the report once', async () => {
    const h = await deploying();
    const before = proxy.sent(PROGRESS).length;
    proxy.loseNext(PROGRESS);
    const r = await sh(join(work, 'one'), proxy.port, h.credential);
    assert.equal(r.code, 0, r.err);
    assert.match(r.err, /\[installed\] installation finished; rebooting into the installed system/);
    assert.match(r.err, /POST progress failed, retrying in 1s/);
    assert.equal(proxy.sent(PROGRESS).length - before, 2, 'sent twice');
    assert.equal(proxy.lost(PROGRESS).length, 1);
    assert.equal((await installedEvents(h.name)).length, 1, 'one event for two reports');
    assert.equal(await deploymentStatus(h.name), 'installed');
  });

  it('every answer lost: the agent gives up after its tries (the installer boots again); still one event', async () => {
    const h = await deploying();
    const before = proxy.sent(PROGRESS).length;
    proxy.loseNext(PROGRESS, 3);
    const r = await sh(join(work, 'all'), proxy.port, h.credential);
    assert.equal(r.code, 1, r.err);
    assert.match(r.err, /retrying in 1s[\s\S]*retrying in 2s[\s\S]*could not report stage installed/);
    assert.equal(proxy.sent(PROGRESS).length - before, 3);
    assert.equal((await installedEvents(h.name)).length, 1);
    assert.equal(await deploymentStatus(h.name), 'installed');
  });
});

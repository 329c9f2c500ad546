// The distro installers' node calls (profiles/_snippets/kiln-node-lib.sh) as a deploy renders and serves them:
// ubuntu-24.04's early script (enrolment, progress) followed by the late script's last call (kiln_complete), under
// busybox sh, dash and bash with the real curl, against a real in-memory controller on loopback behind a proxy
// that can lose an answer after the controller committed it.
// - The node credential is never on a command line: strace records every program the script runs, with its whole
//   argv (what /proc/PID/cmdline and ps show every local user), and the controller still takes each call as the
//   host's (progress recorded, the host deployed by its node).
// - A completion whose answer is lost (the connection reset after the commit: curl exit 56, which curl's --retry
//   leaves alone) is made again by kiln_complete, and the controller answers the repeat as the first: one move to
//   deployed, no check-in (src/node/complete-repeat.ts).
import assert from 'node:assert/strict';
import { execFile, execFileSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { BUSYBOX, busyboxOnlyPath } from '../../test/support/busybox.js';
import { createTestController, type TestController } from '../../test/support/controller.js';
import { assertNeverOnArgv, STRACE, traced } from '../../test/support/exec-trace.js';
import { startLossyProxy, type LossyProxy } from '../../test/support/lossy-proxy.js';

const COMPLETE = '/api/v1/node/complete';

const which = (tool: string): string | null => {
  try {
    return execFileSync('sh', ['-c', `command -v ${tool}`], { encoding: 'utf8' }).trim() || null;
  } catch {
    return null;
  }
};
const CURL = which('curl');

interface Shell {
  name: string;
  argv: string[] | null;
  busyboxPath: boolean;
}
const shells: Shell[] = [
  { name: 'busybox sh', argv: existsSync(BUSYBOX) ? [BUSYBOX, 'sh'] : null, busyboxPath: true },
  { name: 'dash', argv: which('dash') ? [which('dash')!] : null, busyboxPath: false },
  { name: 'bash', argv: which('bash') ? [which('bash')!] : null, busyboxPath: false },
];

interface Run {
  code: number;
  out: string;
  err: string;
}

describe('installer node calls (kiln-node-lib.sh)', { skip: CURL ? false : 'needs curl' }, () => {
  let c: TestController;
  let proxy: LossyProxy;
  let proxyUrl = '';
  let hostCount = 0;
  const work = mkdtempSync(join(tmpdir(), 'kiln-node-calls-'));

  before(async () => {
    c = await createTestController({ urls: () => ({ baseUrl: proxyUrl, apiUrl: proxyUrl, caPem: '' }) });
    await c.app.listen({ host: '127.0.0.1', port: 0 });
    proxy = await startLossyProxy((c.app.server.address() as AddressInfo).port);
    proxyUrl = `http://127.0.0.1:${proxy.port}`;
  });
  after(async () => {
    await proxy.close();
    await c.close();
    rmSync(work, { recursive: true, force: true });
  });

  /** A host deployed with ubuntu-24.04: its name, and its early script as served with the late script's completion. */
  async function deployed(): Promise<{ name: string; script: string }> {
    hostCount++;
    const name = `calls-${hostCount}`;
    const mac = `52:54:00:e6:00:${hostCount.toString(16).padStart(2, '0')}`;
    const op = { authorization: c.bearer.operator };
    const made = await c.app.inject({
      method: 'POST',
      url: '/api/v1/hosts',
      headers: op,
      payload: { name, state: 'ready', nics: [{ mac }] },
    });
    assert.equal(made.statusCode, 201, made.body);
    const deploy = await c.app.inject({
      method: 'POST',
      url: `/api/v1/hosts/${name}/deploy`,
      headers: op,
      payload: { profile: 'ubuntu-24.04' },
    });
    assert.equal(deploy.statusCode, 200, deploy.body);
    const ipxe = (await c.app.inject({ url: `/boot/host.ipxe?mac=${mac}&platform=efi&arch=x86_64` })).body;
    const token = /\/api\/v1\/node\/install\/([^/\s]+)\//.exec(ipxe)?.[1];
    assert.ok(token, `an install token in\n${ipxe}`);
    const early = await c.app.inject({ url: `/api/v1/node/install/${token}/kiln-early.sh` });
    assert.equal(early.statusCode, 200, early.body);
    const late = (await c.app.inject({ url: `/api/v1/node/install/${token}/kiln-late.sh` })).body;
    assert.match(late, /^kiln_complete install$/m, 'the late script ends with the completion tried here');
    return { name, script: `${early.body}\nkiln_complete install\n` };
  }

  /** Runs `script` under `shell` (under strace when `trace` names a log) with KILN_DIR in `root`; bounded, 60 s. */
  function run(shell: Shell, root: string, script: string, trace?: string): Promise<Run> {
    mkdirSync(root, { recursive: true });
    const file = join(root, 'script.sh');
    writeFileSync(file, script);
    let path = '/usr/local/bin:/usr/bin:/bin';
    if (shell.busyboxPath) {
      path = busyboxOnlyPath(root);
      if (!existsSync(join(path, 'curl'))) symlinkSync(CURL!, join(path, 'curl'));
    }
    const argv = trace ? traced(trace, [...shell.argv!, file]) : [...shell.argv!, file];
    return new Promise((resolve) => {
      execFile(
        argv[0]!,
        argv.slice(1),
        { encoding: 'utf8', timeout: 60_000, env: { PATH: path, HOME: root, KILN_DIR: join(root, 'kiln') } },
        (err, out, errText) =>
          resolve({ code: err ? Number((err as { code?: number }).code ?? -1) : 0, out, err: errText }),
      );
    });
  }

  const events = async (host: string) =>
    (
      (
        await c.app.inject({
          url: `/api/v1/hosts/${host}/events?limit=100`,
          headers: { authorization: c.bearer.admin },
        })
      ).json() as { items: { kind: string; actor: string; message: string }[] }
    ).items;

  for (const shell of shells) {
    it(
      `${shell.name}: the node credential is on no command line, and every call is taken as the host's`,
      { skip: !shell.argv ? `needs ${shell.name}` : !STRACE ? 'needs strace' : false },
      async () => {
        const host = await deployed();
        const root = join(work, host.name);
        const log = join(root, 'exec.log');
        const r = await run(shell, root, host.script, log);
        assert.equal(r.code, 0, r.err);
        const credential = readFileSync(join(root, 'kiln/credential'), 'utf8').trim();
        assert.match(credential, /^kn_/);
        assertNeverOnArgv(log, [credential], ['curl']);
        assert.equal(existsSync(join(root, 'kiln/auth-header')), false, 'the header file is gone after the calls');
        const evs = await events(host.name);
        assert.deepEqual(
          evs.filter((e) => e.kind === 'node.credential_refused'),
          [],
          'no call was refused',
        );
        assert.ok(
          evs.some((e) => e.kind === 'node.progress' && e.message.startsWith('installer-started: ')),
          'progress recorded: the controller took the credential from the header file',
        );
        const moved = evs.filter((e) => e.kind === 'host.state').map((e) => `${e.actor} ${e.message}`);
        assert.equal(moved.at(-1), `node:${host.name} host ${host.name}: deploying → deployed`);
      },
    );

    it(
      `${shell.name}: a completion whose answer is lost is made again, and counted once`,
      { skip: shell.argv ? false : `needs ${shell.name}` },
      async () => {
        const host = await deployed();
        const before = proxy.sent(COMPLETE).length;
        proxy.loseNext(COMPLETE);
        const r = await run(shell, join(work, host.name), host.script);
        assert.equal(r.code, 0, r.err);
        assert.match(
          r.err,
          /curl: \(56\) Recv failure: Connection reset by peer/,
          'a reset, which curl --retry leaves',
        );
        assert.match(r.err, /kiln: completion got no answer \(curl exit 56\), trying again in 2s/);
        assert.deepEqual(proxy.sent(COMPLETE).slice(before), ['{"stage":"install"}', '{"stage":"install"}']);
        assert.deepEqual(JSON.parse(proxy.lost(COMPLETE).at(-1)!), { state: 'deployed' }, 'the first was committed');
        const evs = await events(host.name);
        assert.deepEqual(
          evs.filter((e) => e.kind === 'host.state').map((e) => e.message),
          [`host ${host.name}: ready → deploying`, `host ${host.name}: deploying → deployed`],
        );
        assert.deepEqual(
          evs.filter((e) => e.kind === 'node.checkin'),
          [],
          'the repeat recorded nothing',
        );
      },
    );
  }

  it(
    'busybox sh: a completion refused by the controller (HTTP 401) is not tried again',
    { skip: shells[0]!.argv ? false : 'needs busybox' },
    async () => {
      const host = await deployed();
      const root = join(work, host.name);
      const first = await run(shells[0]!, root, host.script);
      assert.equal(first.code, 0, first.err);
      writeFileSync(join(root, 'kiln/credential'), 'kn_not-the-credential-of-this-host\n', { mode: 0o600 });
      const before = proxy.sent(COMPLETE).length;
      const again = await run(shells[0]!, root, host.script);
      assert.notEqual(again.code, 0);
      assert.match(again.err, /kiln: completion failed \(curl exit 22\)/);
      assert.equal(proxy.sent(COMPLETE).length, before + 1);
    },
  );
});

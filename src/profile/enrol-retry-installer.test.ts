// The distro installers' enrolment (profiles/_snippets/kiln-enrol.sh), as a deploy renders and serves it: the
// ubuntu-24.04 early script (autoinstall early-commands) and the rocky-9 kickstart's %pre, run under busybox sh,
// dash and bash with the real curl, against a real in-memory controller on loopback behind a proxy that resets the
// connection after the controller answered (committed) the first enrolment. curl's own --retry does not retry
// that (exit 56); the snippet's loop does, with the same enrolment secret, and gets a fresh credential that works,
// while the lost one does not. Once the credential is used, the same secret is refused.
import assert from 'node:assert/strict';
import { execFile, execFileSync } from 'node:child_process';
import {
  existsSync,
  mkdirSync,
  mkdtempSync,
  readFileSync,
  rmSync,
  statSync,
  symlinkSync,
  writeFileSync,
} from 'node:fs';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { BUSYBOX, busyboxOnlyPath } from '../../test/support/busybox.js';
import { createTestController, type TestController } from '../../test/support/controller.js';
import { startLossyProxy, type LossyProxy } from '../../test/support/lossy-proxy.js';

const ENROL = '/api/v1/node/enrol';
const PROGRESS = '/api/v1/node/progress';
const SECRET = /^ke_[0-9a-f]{64}$/;

const which = (tool: string): string | null => {
  try {
    return execFileSync('sh', ['-c', `command -v ${tool}`], { encoding: 'utf8' }).trim() || null;
  } catch {
    return null;
  }
};
const CURL = which('curl');
const skip = !CURL ? 'needs curl' : false;

/** How a shell runs a script: its argv before the script, and whether PATH is busybox's applets (plus curl). */
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

/** The enrolling part of a served install file: the early script itself, or the kickstart's %pre body. */
const installerScripts: Record<string, { file: string; script: (text: string) => string }> = {
  'ubuntu-24.04': { file: 'kiln-early.sh', script: (t) => t },
  'rocky-9': {
    file: 'ks.cfg',
    script: (t) => {
      const pre = /^%pre [^\n]*\n([\s\S]*?)\n%end$/m.exec(t)?.[1];
      assert.ok(pre, `a %pre section in\n${t}`);
      return pre;
    },
  },
};

interface Run {
  code: number;
  out: string;
  err: string;
}

describe('installer enrolment (kiln-enrol.sh): a lost answer is retried with the enrolment secret', { skip }, () => {
  let c: TestController;
  let proxy: LossyProxy;
  let proxyUrl = '';
  const work = mkdtempSync(join(tmpdir(), 'kiln-enrol-installer-'));
  let hostCount = 0;

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

  /** A new host deployed with `profile`; returns its name, MAC and the enrolling script as the installer gets it. */
  async function deployed(profile: string): Promise<{ name: string; mac: string; script: string }> {
    hostCount++;
    const name = `inst-${hostCount}`;
    const mac = `52:54:00:e4:00:${hostCount.toString(16).padStart(2, '0')}`;
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
      payload: { profile },
    });
    assert.equal(deploy.statusCode, 200, deploy.body);
    const ipxe = (await c.app.inject({ url: `/boot/host.ipxe?mac=${mac}&platform=efi&arch=x86_64` })).body;
    const token = /\/api\/v1\/node\/install\/([^/\s]+)\//.exec(ipxe)?.[1];
    assert.ok(token, `an install token in\n${ipxe}`);
    const { file, script } = installerScripts[profile]!;
    const served = await c.app.inject({ url: `/api/v1/node/install/${token}/${file}` });
    assert.equal(served.statusCode, 200, served.body);
    return { name, mac, script: script(served.body) };
  }

  /** Runs `script` under `shell` with KILN_DIR in `root` (the installer's /run/kiln); bounded, 60 s. */
  function run(shell: Shell, root: string, script: string, env: Record<string, string> = {}): Promise<Run> {
    mkdirSync(root, { recursive: true });
    const file = join(root, 'script.sh');
    writeFileSync(file, script);
    let path = '/usr/local/bin:/usr/bin:/bin';
    if (shell.busyboxPath) {
      path = busyboxOnlyPath(root);
      if (!existsSync(join(path, 'curl'))) symlinkSync(CURL!, join(path, 'curl'));
    }
    const [cmd, ...args] = shell.argv!;
    return new Promise((resolve) => {
      execFile(
        cmd!,
        [...args, file],
        { encoding: 'utf8', timeout: 60_000, env: { PATH: path, HOME: root, KILN_DIR: join(root, 'kiln'), ...env } },
        (err, out, errText) =>
          resolve({ code: err ? Number((err as { code?: number }).code ?? -1) : 0, out, err: errText }),
      );
    });
  }

  const next = (credential: string) =>
    c.app.inject({ method: 'GET', url: '/api/v1/node/next', headers: { authorization: `Bearer ${credential}` } });
  const eventKinds = async (host: string) =>
    (
      (
        await c.app.inject({
          url: `/api/v1/hosts/${host}/events?limit=100`,
          headers: { authorization: c.bearer.admin },
        })
      ).json() as { items: { kind: string }[] }
    ).items.map((e) => e.kind);
  const parsed = (bodies: string[]) => bodies.map((b) => JSON.parse(b) as { mac: string; enrolSecret: string });

  for (const shell of shells) {
    for (const profile of Object.keys(installerScripts)) {
      it(
        `${shell.name}, ${profile}: the first answer is lost; the retry gets a working credential, the lost one is refused, and once used the same secret is refused`,
        { skip: shell.argv ? false : `needs ${shell.name}` },
        async () => {
          const host = await deployed(profile);
          const root = join(work, host.name);
          const kilnDir = join(root, 'kiln');
          const sentBefore = proxy.sent(ENROL).length;
          const progressBefore = proxy.sent(PROGRESS).length;
          proxy.loseNext(ENROL);
          const r = await run(shell, root, host.script);
          assert.equal(r.code, 0, r.err);
          assert.match(
            r.err,
            /curl: \(56\) Recv failure: Connection reset by peer/,
            'a reset, which curl --retry leaves',
          );
          assert.match(r.err, /kiln: enrolment got no answer \(curl exit 56\), trying again in 2s/);

          const sent = parsed(proxy.sent(ENROL).slice(sentBefore));
          assert.equal(sent.length, 2);
          assert.deepEqual(Object.keys(sent[0]!), ['mac', 'enrolSecret']);
          assert.equal(sent[0]!.mac, host.mac);
          assert.match(sent[0]!.enrolSecret, SECRET);
          assert.deepEqual(sent[1], sent[0], 'the retry sends the same body, the same secret');
          const secret = sent[0]!.enrolSecret;

          const lostCredential = (JSON.parse(proxy.lost(ENROL).at(-1)!) as { credential: string }).credential;
          const kept = readFileSync(join(kilnDir, 'credential'), 'utf8');
          assert.match(kept, /^kn_\S+\n$/);
          assert.equal(statSync(join(kilnDir, 'credential')).mode & 0o777, 0o600);
          assert.notEqual(kept.trim(), lostCredential);
          assert.equal(
            existsSync(join(kilnDir, 'enrol-secret')),
            false,
            'the secret is removed once the credential is kept',
          );
          for (const hidden of [secret, lostCredential, kept.trim()])
            assert.ok(!`${r.out}${r.err}`.includes(hidden), 'neither the secret nor a credential is printed');
          // The script went on with the kept credential (installer-started): that was its first use.
          assert.equal(proxy.sent(PROGRESS).length, progressBefore + 1);
          assert.equal((await next(lostCredential)).statusCode, 401, 'the lost credential was replaced');
          assert.equal((await next(kept.trim())).statusCode, 200);
          const kinds = await eventKinds(host.name);
          assert.equal(kinds.filter((k) => k === 'node.enrolled').length, 1);
          assert.equal(kinds.filter((k) => k === 'node.enrol_retried').length, 1);

          // The same install again without its credential, with the same secret: refused, and not retried.
          rmSync(join(kilnDir, 'credential'));
          writeFileSync(join(kilnDir, 'enrol-secret'), secret, { mode: 0o600 });
          const again = await run(shell, root, host.script);
          assert.notEqual(again.code, 0);
          assert.match(again.err, /curl: \(22\) The requested URL returned error: 403/);
          assert.match(again.err, /kiln: enrolment failed \(curl exit 22\)/);
          assert.deepEqual(parsed(proxy.sent(ENROL).slice(sentBefore + 2)), [{ mac: host.mac, enrolSecret: secret }]);
          assert.equal(existsSync(join(kilnDir, 'credential')), false);
          assert.equal((await next(kept.trim())).statusCode, 200, 'the refused retry replaced nothing');
        },
      );
    }
  }

  it(
    'busybox sh: a run that gave up keeps its secret (0600); the next run of the same install sends it and gets a working credential',
    { skip: shells[0]!.argv ? false : 'needs busybox' },
    async () => {
      const host = await deployed('ubuntu-24.04');
      const root = join(work, host.name);
      const kilnDir = join(root, 'kiln');
      const sentBefore = proxy.sent(ENROL).length;
      proxy.loseNext(ENROL);
      const first = await run(shells[0]!, root, host.script, { KILN_ENROL_TRIES: '1' });
      assert.notEqual(first.code, 0);
      assert.match(first.err, /kiln: enrolment failed \(curl exit 56\)/);
      assert.equal(existsSync(join(kilnDir, 'credential')), false);
      assert.equal(statSync(join(kilnDir, 'enrol-secret')).mode & 0o777, 0o600);
      const second = await run(shells[0]!, root, host.script);
      assert.equal(second.code, 0, second.err);
      const sent = parsed(proxy.sent(ENROL).slice(sentBefore));
      assert.equal(sent.length, 2);
      assert.match(sent[0]!.enrolSecret, SECRET);
      assert.equal(sent[1]!.enrolSecret, sent[0]!.enrolSecret, 'the re-run sends the first run’s secret');
      const lostCredential = (JSON.parse(proxy.lost(ENROL).at(-1)!) as { credential: string }).credential;
      const kept = readFileSync(join(kilnDir, 'credential'), 'utf8').trim();
      assert.equal((await next(lostCredential)).statusCode, 401);
      assert.equal((await next(kept)).statusCode, 200);
    },
  );
});

// Kiln's own node scripts' calls with the node credential, against a real in-memory controller on loopback behind
// a proxy that can lose an answer after the controller committed it, each run under strace, which records every
// program run with its whole argv (what /proc/PID/cmdline and ps show every local user):
// - the discovery agent and the wiper (node/agent/lib.sh api: busybox nc through http_raw, not wget, which takes
//   headers only on its command line);
// - the heartbeat agent (node/heartbeat/kiln-heartbeat.sh: curl with a header file, or http_raw without curl);
// - the first-boot callback (node/firstboot/kiln-firstboot.sh: curl with a header file, bash's /dev/tcp, or nc).
// The credential is on no command line, and the controller takes every call as the host's. The wiper's and the
// first boot's completion whose answer is lost is made again and counted once (src/node/complete-repeat.ts).
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { BUSYBOX, busyboxOnlyPath } from '../../test/support/busybox.js';
import { createTestController, type TestController } from '../../test/support/controller.js';
import { assertNeverOnArgv, STRACE, traced } from '../../test/support/exec-trace.js';
import { startLossyProxy, type LossyProxy } from '../../test/support/lossy-proxy.js';
import { nodeScriptsDir } from './build-discovery-image.js';

const agent = join(nodeScriptsDir, 'agent');
const COMPLETE = '/api/v1/node/complete';
const CURL = ['/usr/bin/curl', '/bin/curl'].find((p) => existsSync(p));
const BASH = ['/usr/bin/bash', '/bin/bash'].find((p) => existsSync(p));
const skip = !existsSync(BUSYBOX) ? 'needs busybox' : !STRACE ? 'needs strace' : false;

interface Run {
  code: number;
  out: string;
  err: string;
}

/** Runs `argv` under strace (every execve into `log`) with exactly `env`; bounded, 60 s. */
function run(log: string, argv: string[], env: Record<string, string>): Promise<Run> {
  const all = traced(log, argv);
  return new Promise((resolve) => {
    execFile(all[0]!, all.slice(1), { encoding: 'utf8', timeout: 60_000, env }, (err, out, errText) =>
      resolve({ code: err ? Number((err as { code?: number }).code ?? -1) : 0, out, err: errText }),
    );
  });
}

describe("Kiln's node scripts: the credential on no command line, a lost completion made again", { skip }, () => {
  let c: TestController;
  let proxy: LossyProxy;
  let url = '';
  let hosts = 0;
  const work = mkdtempSync(join(tmpdir(), 'kiln-node-calls-agent-'));
  const bb = () => busyboxOnlyPath(work);

  before(async () => {
    c = await createTestController();
    await c.app.listen({ host: '127.0.0.1', port: 0 });
    proxy = await startLossyProxy((c.app.server.address() as AddressInfo).port);
    url = `http://127.0.0.1:${proxy.port}`;
  });
  after(async () => {
    await proxy.close();
    await c.close();
    rmSync(work, { recursive: true, force: true });
  });

  const op = (method: 'GET' | 'POST', path: string, payload?: object) =>
    c.app.inject({ method, url: `/api/v1/${path}`, headers: { authorization: c.bearer.operator }, payload });
  /** The host's events, oldest first; none of them a refused credential. */
  const events = async (host: string) => {
    const r = await op('GET', `hosts/${host}/events?limit=200`);
    const items = (r.json() as { items: { kind: string; message: string }[] }).items;
    assert.deepEqual(
      items.filter((e) => e.kind === 'node.credential_refused'),
      [],
      'no call was refused',
    );
    return items;
  };
  const moves = async (host: string) =>
    (await events(host)).filter((e) => e.kind === 'host.state').map((e) => e.message.replace(`host ${host}: `, ''));
  const nextMac = () => `52:54:00:e7:00:${(++hosts).toString(16).padStart(2, '0')}`;

  /** A run directory for the agent: /proc/cmdline with kiln.url, and the run dir (0700) the credential goes to. */
  function agentRoot(name: string): { root: string; env: Record<string, string> } {
    const root = join(work, name);
    mkdirSync(join(root, 'proc'), { recursive: true });
    mkdirSync(join(root, 'run'), { recursive: true, mode: 0o700 });
    writeFileSync(join(root, 'proc/cmdline'), `kiln.url=${url} kiln.mode=discover\n`);
    return {
      root,
      env: { PATH: bb(), KILN_LIB: agent, KILN_PROC: join(root, 'proc'), KILN_RUN: join(root, 'run'), KILN_TRIES: '3' },
    };
  }
  const agentScript = (body: string) => [
    BUSYBOX,
    'sh',
    '-c',
    `. "$KILN_LIB/lib.sh"; . "$KILN_LIB/discover.sh"; KILN_URL=$(cmdline_get kiln.url); ${body}`,
  ];

  it('the discovery agent and the wiper (busybox, nc): no credential on argv; a lost wipe completion counts once', async () => {
    const mac = nextMac();
    const facts = JSON.stringify({ bootMac: mac, firmware: 'bios', nics: [{ name: 'eth0', mac }] });
    const d = agentRoot('discover');
    const found = await run(
      join(d.root, 'exec.log'),
      agentScript(
        `answer=$(discover_report '${facts}') || exit 1
         store_credential "$(printf '%s' "$answer" | json_flatten)"
         api GET next || exit 2
         progress discover 'reported by the test'`,
      ),
      d.env,
    );
    assert.equal(found.code, 0, found.err);
    assert.deepEqual(JSON.parse(found.out), { action: 'wait' }, 'next, authenticated');
    const discovered = readFileSync(join(d.root, 'run/credential'), 'utf8');
    assertNeverOnArgv(join(d.root, 'exec.log'), [discovered], ['nc']);
    const name = `node-${mac.replace(/:/g, '')}`;
    assert.ok(
      (await events(name)).some((e) => e.kind === 'node.progress' && e.message === 'discover: reported by the test'),
    );

    // Deployed, then released with a wipe: the wiper enrols and reports completion; that answer is lost once.
    assert.equal((await op('POST', `hosts/${name}/deploy`, { profile: 'debian-12' })).statusCode, 200);
    assert.equal((await op('POST', `hosts/${name}/state`, { state: 'deployed' })).statusCode, 200);
    assert.equal((await op('POST', `hosts/${name}/release`, { wipe: true })).json().state, 'releasing');
    const w = agentRoot('wipe');
    proxy.loseNext(COMPLETE);
    const wiped = await run(
      join(w.root, 'exec.log'),
      agentScript(
        `answer=$(api_retry POST enrol "$(enrol_body '${mac}')") || exit 1
         store_credential "$(printf '%s' "$answer" | json_flatten)"
         progress wipe 'erasing /dev/vda'
         api_retry POST complete '{"ok":true}'`,
      ),
      w.env,
    );
    assert.equal(wiped.code, 0, wiped.err);
    assert.match(wiped.err, /POST complete failed, retrying in 1s/);
    assert.deepEqual(JSON.parse(wiped.out), { state: 'ready' }, 'the repeat is answered as the first');
    assert.deepEqual(JSON.parse(proxy.lost(COMPLETE).at(-1)!), { state: 'ready' });
    const wiper = readFileSync(join(w.root, 'run/credential'), 'utf8');
    assertNeverOnArgv(join(w.root, 'exec.log'), [wiper], ['nc']);
    assert.deepEqual((await moves(name)).slice(-2), ['deployed → releasing', 'releasing → ready']);
    assert.equal((await events(name)).filter((e) => e.kind === 'node.checkin').length, 0);
  });

  describe('the heartbeat agent', () => {
    let credential = '';
    let name = '';
    before(async () => {
      const mac = nextMac();
      const r = await c.app.inject({
        method: 'POST',
        url: '/api/v1/node/discover',
        payload: { facts: { bootMac: mac, nics: [{ name: 'eth0', mac }] } },
      });
      assert.equal(r.statusCode, 200, r.body);
      ({ credential, name } = r.json<{ credential: string; name: string }>());
    });

    /** A fake /proc (up `uptime` seconds) and /etc/kiln (url, credential) for one heartbeat. */
    function hbRoot(dir: string, uptime: number): { root: string; env: Record<string, string> } {
      const root = join(work, dir);
      const proc = join(root, 'proc');
      mkdirSync(join(proc, 'sys/kernel/random'), { recursive: true });
      writeFileSync(join(proc, 'uptime'), `${uptime}.45 100.00\n`);
      writeFileSync(join(proc, 'meminfo'), 'MemTotal: 1000 kB\nMemAvailable: 500 kB\n');
      writeFileSync(join(proc, 'loadavg'), '0.10 0.20 0.30 1/100 1234\n');
      writeFileSync(join(proc, 'mounts'), '');
      writeFileSync(join(proc, 'cmdline'), 'console=ttyS0\n');
      writeFileSync(join(proc, 'sys/kernel/random/boot_id'), '11111111-2222-3333-4444-555555555555\n');
      writeFileSync(join(proc, 'sys/kernel/osrelease'), '6.1.0\n');
      const etc = join(root, 'etc');
      mkdirSync(etc, { recursive: true });
      writeFileSync(join(etc, 'url'), `${url}\n`);
      writeFileSync(join(etc, 'credential'), `${credential}\n`, { mode: 0o600 });
      mkdirSync(join(root, 'state'), { mode: 0o700 });
      writeFileSync(join(root, 'state/audited'), '');
      return {
        root,
        env: {
          KILN_LIB: agent,
          KILN_HB_SOURCE_ONLY: '1',
          KILN_ETC: etc,
          KILN_HB_STATE: join(root, 'state'),
          KILN_PROC: proc,
          KILN_SYS: join(root, 'sys'),
          KILN_SSH_DIR: join(root, 'ssh'),
          KILN_SYSTEMD_RUN: join(root, 'no-systemd'),
          KILN_SSHD_PID: join(root, 'no-sshd.pid'),
        },
      };
    }
    const beat = [BUSYBOX, 'sh', '-c', `. "${nodeScriptsDir}/heartbeat/kiln-heartbeat.sh"; HB_INTERVAL=60; hb_send`];
    /** The uptime of the host's last heartbeat the controller recorded. */
    const lastUptime = async () =>
      ((await op('GET', `hosts/${name}/health`)).json() as { report: { uptimeSeconds: number } }).report.uptimeSeconds;

    for (const [via, uptime] of [
      ['nc', 111],
      ['curl', 222],
    ] as const)
      it(
        `${via}: no credential on argv; the controller takes the heartbeat`,
        { skip: via === 'curl' && !CURL ? 'needs curl' : false },
        async () => {
          const h = hbRoot(`hb-${via}`, uptime);
          let path = join(work, `hb-path-${via}`);
          if (via === 'curl') {
            mkdirSync(path);
            symlinkSync(CURL!, join(path, 'curl'));
            path = `${path}:${bb()}`;
          } else path = bb();
          const r = await run(join(h.root, 'exec.log'), beat, { ...h.env, PATH: path });
          assert.equal(r.code, 0, r.err);
          assertNeverOnArgv(join(h.root, 'exec.log'), [credential], [via]);
          assert.equal(existsSync(join(h.root, 'state/auth-header')), false);
          assert.equal(await lastUptime(), uptime, 'the controller recorded this heartbeat');
          await events(name);
        },
      );
  });

  describe('the first-boot callback', () => {
    /** A host being deployed whose installer enrolled: its name and credential. */
    async function deploying(): Promise<{ name: string; credential: string }> {
      const mac = nextMac();
      const name = `fb-${hosts}`;
      assert.equal((await op('POST', 'hosts', { name, state: 'ready', nics: [{ mac }] })).statusCode, 201);
      assert.equal((await op('POST', `hosts/${name}/deploy`, { profile: 'debian-12' })).statusCode, 200);
      const r = await c.app.inject({ method: 'POST', url: '/api/v1/node/enrol', payload: { mac } });
      assert.equal(r.statusCode, 200, r.body);
      return { name, credential: r.json<{ credential: string }>().credential };
    }
    /** A PATH of links to `tools` only (no curl, no bash unless listed). */
    function onlyTools(dir: string, tools: string[]): string {
      const bin = join(work, dir);
      mkdirSync(bin);
      for (const t of tools) {
        const src = ['/usr/bin', '/bin'].map((d) => join(d, t)).find((p) => existsSync(p));
        assert.ok(src, `${t} on this machine`);
        symlinkSync(src, join(bin, t));
      }
      return bin;
    }

    const ways = [
      { via: 'curl', skip: !CURL ? 'needs curl' : false, shell: ['/bin/sh'], path: () => '/usr/bin:/bin' },
      {
        via: 'bash',
        skip: !BASH ? 'needs bash' : false,
        shell: ['/bin/sh'],
        path: () => onlyTools('fb-bash-bin', ['sh', 'bash', 'cat', 'mkdir', 'touch', 'sleep', 'timeout']),
      },
      { via: 'nc', skip: false, shell: [BUSYBOX, 'sh'], path: bb },
    ];
    for (const w of ways)
      it(
        `${w.via}: no credential on argv; the first answer is lost, the repeat is answered as the first`,
        { skip: w.skip },
        async () => {
          const h = await deploying();
          const root = join(work, `fb-${w.via}`);
          mkdirSync(join(root, 'etc'), { recursive: true });
          writeFileSync(join(root, 'etc/url'), `${url}\n`);
          writeFileSync(join(root, 'etc/credential'), `${h.credential}\n`, { mode: 0o600 });
          proxy.loseNext(COMPLETE);
          const before = proxy.sent(COMPLETE).length;
          const r = await run(
            join(root, 'exec.log'),
            [...w.shell, join(nodeScriptsDir, 'firstboot/kiln-firstboot.sh')],
            {
              PATH: w.path(),
              KILN_ETC: join(root, 'etc'),
              KILN_STATE: join(root, 'state'),
              KILN_LIB: agent,
              KILN_TRIES: '3',
              KILN_DELAY: '1',
            },
          );
          assert.equal(r.code, 0, r.err);
          assert.match(r.out, /kiln-firstboot: reported to http:\/\/127\.0\.0\.1:\d+/);
          assert.ok(existsSync(join(root, 'state/firstboot-done')));
          assertNeverOnArgv(join(root, 'exec.log'), [h.credential], [w.via]);
          assert.equal(existsSync(join(root, 'etc/auth-header')), false);
          assert.equal(proxy.sent(COMPLETE).length, before + 2, 'the lost one and its repeat');
          assert.deepEqual(JSON.parse(proxy.lost(COMPLETE).at(-1)!), { state: 'deployed' });
          assert.deepEqual(await moves(h.name), ['ready → deploying', 'deploying → deployed']);
          assert.equal((await events(h.name)).filter((e) => e.kind === 'node.checkin').length, 0);
        },
      );
  });
});

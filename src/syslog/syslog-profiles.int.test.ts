// The shipped profiles' syslog forwarding, run for real against a `kiln serve`
// process on loopback: the late step's rsyslog rule (the rendered shell
// function writes it, `rsyslogd -N1` accepts it, a real rsyslogd forwards with
// it) and ubuntu-24.04's installer journal forwarder (the rendered function
// runs the real setsid and util-linux logger; journalctl is a stand-in that
// prints journal lines, as this machine runs no journal). Lines are read back
// with `kiln host logs`, attributed to the host by the HOSTNAME they carry.
import assert from 'node:assert/strict';
import { spawn, execFileSync, type ChildProcess } from 'node:child_process';
import { chmodSync, existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { after, before, test } from 'node:test';
import { freePort, runKiln, startServe, type ServeProcess } from '../../test/support/serve-process.js';
import { loadProfiles } from '../profile/load-profiles.js';
import { renderProfileFile } from '../profile/render-profile-file.js';
import { sampleContext } from '../profile/testdata/sample-context.js';
import type { RenderContext } from '../template/render-context.js';

const here = dirname(fileURLToPath(import.meta.url));
const { profiles } = await loadProfiles(join(here, '../../profiles'));
const has = (tool: string) => {
  try {
    execFileSync('sh', ['-c', `command -v ${tool}`]);
    return true;
  } catch {
    return false;
  }
};
const skip =
  process.getuid?.() !== 0
    ? 'needs root (a private mount and UTS namespace for the rendered scripts)'
    : !has('rsyslogd') || !has('logger') || !has('unshare')
      ? 'needs rsyslogd, logger and unshare (scripts/install-test-peers.sh)'
      : false;

const work = mkdtempSync(join(tmpdir(), 'kiln-syslog-profiles-'));
let serve: ServeProcess | null = null;
let rsyslogd: ChildProcess | null = null;
let port = 0;
let env: Record<string, string> = {};

before(async () => {
  if (skip) return;
  port = await freePort();
  const cfg = join(work, 'kiln.yaml');
  writeFileSync(cfg, JSON.stringify({ syslog: { enabled: true, address: '127.0.0.1', port } }));
  const dataDir = join(work, 'data');
  serve = await startServe(['--config', cfg, '--data-dir', dataDir, '--power-poll-interval', '0'], {}, 60_000);
  env = { KILN_SERVER: serve.url, KILN_TOKEN: readFileSync(join(dataDir, 'admin-token'), 'utf8').trim() };
  const add = await runKiln(['host', 'add', 'node07', '--mac', '52:54:00:5e:01:07'], env);
  assert.equal(add.code, 0, add.stderr);
});

after(async () => {
  if (rsyslogd && rsyslogd.exitCode === null) {
    rsyslogd.kill('SIGTERM');
    await new Promise((r) => rsyslogd!.once('exit', r));
  }
  if (serve && serve.child.exitCode === null) {
    serve.child.kill('SIGTERM');
    const force = setTimeout(() => serve?.child.kill('SIGKILL'), 10_000);
    await serve.exited;
    clearTimeout(force);
  }
  rmSync(work, { recursive: true, force: true });
});

/** The sample host's context with Kiln's receiver on this test's loopback port. */
function contextFor(name: string, session: string): RenderContext {
  const ctx = sampleContext(profiles.get(name)!);
  return { ...ctx, kiln: { ...ctx.kiln, syslog: { host: '127.0.0.1', port } }, boot: { session } };
}

/** Polls `kiln host logs node07` (bounded, 10 s) until its output has `want`; returns the output. */
async function hostLogs(args: string[], want: RegExp): Promise<string> {
  let out = '';
  for (let i = 0; i < 50 && !want.test(out); i++) {
    await new Promise((r) => setTimeout(r, 200));
    const r = await runKiln(['host', 'logs', 'node07', '--json', ...args], env);
    assert.equal(r.code, 0, r.stderr);
    out = r.stdout;
  }
  return out;
}

test(
  "the late step's rsyslog rule: written by the rendered function, accepted by rsyslogd -N1, and a real rsyslogd forwards the installed system's lines to kiln serve",
  { skip, timeout: 120_000 },
  async () => {
    // The shared late snippet as debian-12 renders it; its function writes the rule under /etc/rsyslog.d,
    // here a private tmpfs so the machine's own rsyslog configuration is untouched.
    const late = renderProfileFile(profiles.get('debian-12')!, 'kiln-late.sh', contextFor('debian-12', ''));
    const fn = /^kiln_syslog_rsyslog\(\) \{[\s\S]*?^\}$/m.exec(late)![0];
    const rule = execFileSync(
      'unshare',
      [
        '-m',
        '--propagation',
        'private',
        'sh',
        '-c',
        `mkdir -p /etc/rsyslog.d && mount -t tmpfs tmpfs /etc/rsyslog.d && ${fn}\nkiln_syslog_rsyslog && cat /etc/rsyslog.d/60-kiln-forward.conf`,
      ],
      { encoding: 'utf8' },
    );
    assert.match(rule, new RegExp(`target="127\\.0\\.0\\.1" port="${port}" protocol="tcp"`));
    // rsyslogd on its own socket and work directory, naming itself node07 as the installed host would.
    const sock = join(work, 'log');
    mkdirSync(join(work, 'rsyslog'));
    writeFileSync(join(work, 'kiln-forward.conf'), rule);
    const conf = join(work, 'rsyslog.conf');
    writeFileSync(
      conf,
      `global(workDirectory="${join(work, 'rsyslog')}" localHostname="node07")
module(load="imuxsock" SysSock.Use="off")
input(type="imuxsock" Socket="${sock}")
include(file="${join(work, 'kiln-forward.conf')}")
`,
    );
    const check = execFileSync('rsyslogd', ['-N1', '-f', conf], { encoding: 'utf8', stdio: 'pipe' });
    assert.doesNotMatch(check, /error/i, check);
    rsyslogd = spawn('rsyslogd', ['-n', '-f', conf, '-i', join(work, 'rsyslogd.pid')], { stdio: 'ignore' });
    for (let i = 0; i < 50 && !existsSync(sock); i++) await new Promise((r) => setTimeout(r, 100));
    assert.ok(existsSync(sock), 'rsyslogd made its socket');
    execFileSync('logger', ['-u', sock, '-t', 'sshd', '-p', 'auth.warning', 'installed system line one']);
    execFileSync('logger', ['-u', sock, '-t', 'cron', '-p', 'cron.info', 'installed system line two']);

    const out = await hostLogs([], /installed system line two/);
    const items = (JSON.parse(out) as Array<Record<string, unknown>>).filter((m) =>
      /installed system line/.test(String(m['text'])),
    );
    assert.deepEqual(
      items
        .map((m) => ({ app: m['app'], severity: m['severity'], text: m['text'], session: m['sessionId'] }))
        .sort((a, b) => String(a.text).localeCompare(String(b.text))),
      [
        { app: 'sshd', severity: 4, text: 'installed system line one', session: null },
        { app: 'cron', severity: 6, text: 'installed system line two', session: null },
      ],
      out,
    );
  },
);

test(
  "ubuntu-24.04's installer journal forwarder: the rendered function sends each journal line to kiln serve with the boot session",
  { skip, timeout: 120_000 },
  async () => {
    const session = '5e55101f0a2b';
    const early = renderProfileFile(
      profiles.get('ubuntu-24.04')!,
      'kiln-early.sh',
      contextFor('ubuntu-24.04', session),
    );
    const fn = /^kiln_syslog_journal\(\) \{[\s\S]*?^\}$/m.exec(early)![0];
    // A stand-in journalctl that prints what `journalctl -o short-iso` prints, then ends (no journal runs here).
    const bin = join(work, 'bin');
    mkdirSync(bin);
    writeFileSync(
      join(bin, 'journalctl'),
      `#!/bin/sh
[ "$*" = "-b -f -n all -o short-iso" ] || { echo "unexpected arguments: $*" >&2; exit 2; }
echo '2026-12-06T11:00:01+0000 ubuntu-server kernel: Linux version 6.8.0-45-generic'
echo '2026-12-06T11:02:09+0000 ubuntu-server subiquity_event.1789[1789]: finish: subiquity/Install/install/curtin_install: FAIL: curtin command install'
`,
    );
    chmodSync(join(bin, 'journalctl'), 0o755);
    // A private UTS namespace names the sender node07, as the host's installer would be named by DHCP.
    execFileSync('unshare', ['-u', 'sh', '-c', `hostname node07 && ${fn}\nkiln_syslog_journal`], {
      env: { ...process.env, PATH: `${bin}:${process.env.PATH}` },
    });
    const out = await hostLogs(['--session', session], /curtin_install: FAIL/);
    const items = JSON.parse(out) as Array<Record<string, unknown>>;
    assert.deepEqual(
      items
        .map((m) => ({ app: m['app'], session: m['sessionId'], text: m['text'] }))
        .sort((a, b) => String(a.text).localeCompare(String(b.text))),
      [
        {
          app: 'installer',
          session,
          text: '2026-12-06T11:00:01+0000 ubuntu-server kernel: Linux version 6.8.0-45-generic',
        },
        {
          app: 'installer',
          session,
          text: '2026-12-06T11:02:09+0000 ubuntu-server subiquity_event.1789[1789]: finish: subiquity/Install/install/curtin_install: FAIL: curtin command install',
        },
      ],
      out,
    );
  },
);

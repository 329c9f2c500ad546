// The heartbeat against the real `kiln serve` on loopback, with the real agent
// (node/heartbeat/kiln-heartbeat.sh) run by busybox sh on a busybox-only PATH
// (what the test image has: wget, no curl). The agent reads a fake /proc and
// /sys (KILN_PROC, KILN_SYS) so the test can give it a new boot id and a
// changed disk between two "boots"; its KRL and sshd_config go to a scratch
// KILN_SSH_DIR. Heartbeats every second, three missed raise host.unreachable.
import assert from 'node:assert/strict';
import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { BUSYBOX, busyboxOnlyPath } from '../../test/support/busybox.js';
import { stopChild } from '../../test/support/process.js';
import { kilnBin, startServe, type ServeProcess } from '../../test/support/serve-process.js';

const nodeDir = new URL('../../node/', import.meta.url).pathname;
const skip = existsSync(BUSYBOX) ? false : `needs ${BUSYBOX} (Debian's busybox)`;
const work = mkdtempSync(join(tmpdir(), 'kiln-heartbeat-int-'));
const lib = join(work, 'lib');
const proc = join(work, 'proc');
const sys = join(work, 'sys');
const etc = join(work, 'etc');
const ssh = join(work, 'ssh');
let serve: ServeProcess | undefined;
let agent: ChildProcess | undefined;
let token = '';
let agentLog = '';

const BOOT1 = '11111111-2222-3333-4444-555555555555';
const BOOT2 = '66666666-7777-8888-9999-aaaaaaaaaaaa';

/** A fake /proc and /sys: one boot id, one NIC, one disk of `diskSectors` 512-byte sectors. */
function fakeMachine(bootId: string, diskSectors: number) {
  rmSync(proc, { recursive: true, force: true });
  rmSync(sys, { recursive: true, force: true });
  mkdirSync(join(proc, 'sys/kernel/random'), { recursive: true });
  writeFileSync(join(proc, 'sys/kernel/random/boot_id'), `${bootId}\n`);
  writeFileSync(join(proc, 'sys/kernel/osrelease'), '6.1.0-kiln-test\n');
  writeFileSync(join(proc, 'uptime'), '42.17 80.00\n');
  writeFileSync(join(proc, 'loadavg'), '0.25 0.50 0.75 1/100 1234\n');
  writeFileSync(join(proc, 'meminfo'), 'MemTotal:        2048000 kB\nMemAvailable:    1024000 kB\n');
  writeFileSync(join(proc, 'cpuinfo'), 'processor\t: 0\nmodel name\t: Kiln Test CPU\nprocessor\t: 1\n');
  writeFileSync(join(proc, 'cmdline'), 'console=ttyS0 kiln.session=hb-test-session\n');
  // One mount of a /dev/ device that df can answer for (the work directory's filesystem).
  writeFileSync(join(proc, 'mounts'), `/dev/kilntest ${work} ext4 rw 0 0\nproc /proc proc rw 0 0\n`);
  const nic = join(sys, 'class/net/eth0');
  mkdirSync(nic, { recursive: true });
  writeFileSync(join(nic, 'address'), '52:54:00:95:00:02\n');
  writeFileSync(join(nic, 'type'), '1\n');
  writeFileSync(join(nic, 'carrier'), '1\n');
  const disk = join(sys, 'block/vda');
  mkdirSync(join(disk, 'queue'), { recursive: true });
  mkdirSync(join(disk, 'device'), { recursive: true });
  writeFileSync(join(disk, 'size'), `${diskSectors}\n`);
  writeFileSync(join(disk, 'queue/rotational'), '0\n');
  writeFileSync(join(disk, 'removable'), '0\n');
  writeFileSync(join(disk, 'device/serial'), 'hb-disk-1\n');
  writeFileSync(join(disk, 'device/model'), 'KILN DISK\n');
}

const agentEnv = (state: string) => ({
  PATH: busyboxOnlyPath(work),
  KILN_LIB: lib,
  KILN_PROC: proc,
  KILN_SYS: sys,
  KILN_DEV: join(work, 'dev'),
  KILN_ETC: etc,
  KILN_SSH_DIR: ssh,
  KILN_HB_STATE: join(work, state),
  // Never the test machine's systemd or sshd.
  KILN_SYSTEMD_RUN: join(work, 'no-systemd'),
  KILN_SSHD_PID: join(work, 'no-sshd.pid'),
});

function startAgent(state: string): ChildProcess {
  const child = spawn(BUSYBOX, ['sh', join(lib, 'kiln-heartbeat'), '--loop'], {
    env: agentEnv(state),
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  child.stdout!.on('data', (d) => (agentLog += d));
  child.stderr!.on('data', (d) => (agentLog += d));
  return child;
}

async function api(path: string, init: RequestInit = {}): Promise<unknown> {
  const res = await fetch(`${serve!.url}/api/v1${path}`, {
    ...init,
    headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json', ...init.headers },
  });
  const text = await res.text();
  assert.ok(res.ok, `${path}: HTTP ${res.status} ${text}`);
  return text ? JSON.parse(text) : null;
}

interface Ev {
  kind: string;
  at: string;
  message: string;
  data: unknown;
}
const events = async (kind: string) =>
  ((await api(`/events?kind=${encodeURIComponent(kind)}&limit=100`)) as { items: Ev[] }).items;

/** Polls `f` every 200 ms until it returns a value (bounded). */
async function until<T>(what: string, f: () => Promise<T | undefined | false>, ms = 20_000): Promise<T> {
  const end = Date.now() + ms;
  while (Date.now() < end) {
    const v = await f();
    if (v) return v;
    await new Promise((r) => setTimeout(r, 200));
  }
  throw new Error(`timed out waiting for ${what}\nagent:\n${agentLog}\nserve:\n${serve?.output().slice(-3000)}`);
}

before(async () => {
  if (skip) return;
  mkdirSync(lib, { recursive: true });
  mkdirSync(etc, { recursive: true });
  mkdirSync(join(ssh, 'sshd_config.d'), { recursive: true });
  writeFileSync(join(ssh, 'sshd_config'), 'Include /etc/ssh/sshd_config.d/*.conf\nPort 22\n');
  for (const f of ['agent/lib.sh', 'agent/net.sh', 'agent/facts.sh'])
    writeFileSync(join(lib, f.split('/')[1]), readFileSync(join(nodeDir, f)));
  writeFileSync(join(lib, 'kiln-heartbeat'), readFileSync(join(nodeDir, 'heartbeat/kiln-heartbeat.sh')));
  const cfg = join(work, 'kiln.yaml');
  writeFileSync(
    cfg,
    JSON.stringify({ heartbeat: { intervalSeconds: 1, missedIntervals: 3, checkSeconds: 1, flushSeconds: 1 } }),
  );
  mkdirSync(join(work, 'profiles'));
  serve = await startServe([
    '--data-dir',
    join(work, 'data'),
    '--profiles-dir',
    join(work, 'profiles'),
    '--config',
    cfg,
  ]);
  token = readFileSync(join(work, 'data', 'admin-token'), 'utf8').trim();
  fakeMachine(BOOT1, 4_194_304);
});

after(async () => {
  if (agent) await stopChild(agent);
  if (serve) await stopChild(serve.child);
  rmSync(work, { recursive: true, force: true });
});

test(
  'the busybox agent sends heartbeats, installs the KRL, and its silence, reboot and hardware change are events',
  { skip },
  async () => {
    // Discovery's own report, made by the same facts.sh from the same fake machine: the stored hardware hash.
    const facts = execFileSync(
      BUSYBOX,
      ['sh', '-c', `. "$KILN_LIB/lib.sh"; . "$KILN_LIB/net.sh"; . "$KILN_LIB/facts.sh"; facts_json 52:54:00:95:00:02`],
      {
        env: agentEnv('unused'),
        encoding: 'utf8',
      },
    );
    // The report has no credential: the first one enrols (an admin token here would be taken for a node credential).
    const discover = await fetch(`${serve!.url}/api/v1/node/discover`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: `{"facts":${facts}}`,
    });
    assert.equal(discover.status, 200, await discover.clone().text());
    const enrolled = (await discover.json()) as { name: string; credential: string };
    const host = enrolled.name;
    writeFileSync(join(etc, 'url'), `${serve!.url}\n`);
    writeFileSync(join(etc, 'credential'), `${enrolled.credential}\n`, { mode: 0o600 });
    // An SSH host certificate for this host (serial 1), to revoke later.
    execFileSync('ssh-keygen', ['-q', '-t', 'ed25519', '-N', '', '-f', join(work, 'hostkey')]);
    const certRes = await fetch(`${serve!.url}/api/v1/node/ssh/host-certificates`, {
      method: 'POST',
      headers: { authorization: `Bearer ${enrolled.credential}`, 'content-type': 'text/plain', accept: 'text/plain' },
      body: readFileSync(join(work, 'hostkey.pub'), 'utf8'),
    });
    assert.equal(certRes.status, 200);
    writeFileSync(join(work, 'hostkey-cert.pub'), await certRes.text());

    const started = Date.now();
    agent = startAgent('state1');
    const health = await until('the first heartbeats', async () => {
      const h = (await api(`/hosts/${host}/health`)) as { status: string; report: { bootId: string } | null };
      return h.status === 'ok' && h.report ? h : undefined;
    });
    console.log(`first heartbeat filed ${Date.now() - started} ms after the agent started`);
    assert.equal(health.report!.bootId, BOOT1);
    const cli = execFileSync(
      process.execPath,
      [kilnBin, '--server', serve!.url, '--token', token, 'host', 'health', host, '--json'],
      {
        encoding: 'utf8',
      },
    );
    const view = JSON.parse(cli) as Record<string, unknown> & {
      report: Record<string, unknown>;
      hardware: { hash: string };
    };
    assert.equal(view.status, 'ok');
    const human = execFileSync(
      process.execPath,
      [kilnBin, '--server', serve!.url, '--token', token, 'host', 'health', host],
      {
        encoding: 'utf8',
      },
    );
    console.log(human);
    assert.match(
      human,
      new RegExp(`^${host}: ok, last heartbeat \\S+ from 127\\.0\\.0\\.1 \\(every 1 s; unreachable after 3 missed\\)`),
    );
    assert.equal(view.report.kernel, '6.1.0-kiln-test');
    assert.deepEqual(view.report.load, [0.25, 0.5, 0.75]);
    assert.deepEqual(view.report.memory, { totalBytes: 2048000 * 1024, availableBytes: 1024000 * 1024 });
    assert.equal((view.report.disks as Array<{ mount: string }>)[0].mount, work);
    assert.equal(view.report.session, 'hb-test-session');
    assert.equal(view.report.failedUnits, null, 'no systemd here');
    // The first heartbeat of a boot carried the facts: hashed like discovery's, so no change.
    await until('the re-audit', async () => ((await api(`/hosts/${host}/health`)) as typeof view).hardware.hash);
    const hostRow = (await api(`/hosts/${host}`)) as { hardwareHash: string };
    assert.equal(((await api(`/hosts/${host}/health`)) as typeof view).hardware.hash, hostRow.hardwareHash);
    assert.deepEqual(await events('host.hardware_changed'), [], 'the same tool on the same machine is no change');

    // The KRL reached the node: sshd reads it, and the certificate is not in it yet.
    const krl = join(ssh, 'kiln-revoked-keys');
    await until('the KRL', async () => existsSync(krl));
    assert.match(
      readFileSync(join(ssh, 'sshd_config.d/10-kiln-krl.conf'), 'utf8'),
      new RegExp(`^RevokedKeys ${krl}$`, 'm'),
    );
    const query = () =>
      execFileSync('ssh-keygen', ['-Q', '-f', krl, join(work, 'hostkey-cert.pub')], { encoding: 'utf8' }).trim();
    assert.match(query(), /: ok$/);
    await api('/ssh/certificates/1/revoke', { method: 'POST', body: '{}' });
    const revokedAt = Date.now();
    await until('the revoked certificate in the node KRL', async () => {
      try {
        query();
        return false;
      } catch (err) {
        return String((err as { stdout?: string }).stdout).includes('REVOKED');
      }
    });
    console.log(`revocation in the node's KRL ${Date.now() - revokedAt} ms after kiln ssh revoke`);

    // The agent stops: three missed intervals (1 s each) raise host.unreachable, once.
    await stopChild(agent);
    const stoppedAt = Date.now();
    const [down] = await until('host.unreachable', async () => {
      const e = await events('host.unreachable');
      return e.length ? e : undefined;
    });
    const waited = Date.now() - stoppedAt;
    console.log(`host.unreachable ${waited} ms after the agent stopped`);
    assert.ok(waited >= 2000, `not before three intervals (${waited} ms)`);
    assert.match(down.message, new RegExp(`${host} missed 3 heartbeats \\(interval 1 s\\)`));
    await new Promise((r) => setTimeout(r, 2000));
    assert.equal((await events('host.unreachable')).length, 1, 'raised once');
    assert.equal(((await api(`/hosts/${host}/health`)) as typeof view).status, 'unreachable');

    // It "reboots" with a bigger disk: a new boot id (host.rebooted), back (host.reachable), and the diff.
    fakeMachine(BOOT2, 8_388_608);
    agent = startAgent('state2');
    await until('host.rebooted', async () => (await events('host.rebooted')).length > 0);
    assert.equal((await events('host.reachable')).length, 1);
    const [changed] = await until('host.hardware_changed', async () => {
      const e = await events('host.hardware_changed');
      return e.length ? e : undefined;
    });
    assert.deepEqual((changed.data as { diff: unknown }).diff, [
      { part: 'disk hb-disk-1', before: 'KILN DISK 2147483648 bytes', after: 'KILN DISK 4294967296 bytes' },
    ]);
    const rebooted = (await events('host.rebooted'))[0];
    assert.equal((rebooted.data as { previousBootId: string }).previousBootId, BOOT1);
    assert.equal((rebooted.data as { bootId: string }).bootId, BOOT2);
  },
);

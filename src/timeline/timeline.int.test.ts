// Boot timelines from real peers against the real `kiln serve`: the server in
// one network namespace, a client namespace beside it where busybox udhcpc
// plays the firmware's and iPXE's DHCP (option 60 PXEClient, option 77 iPXE),
// busybox tftp the firmware's boot-file fetch, and curl iPXE's script, kernel
// and initrd fetches and the installer's node API calls. Four machines stop at
// four different stages; each timeline names exactly that stage, each stall
// raises one boot.stalled event. Deadlines are 3 s here (config), checked
// every second: a client slower than that between two steps makes an early
// stall that its next step clears, so assertions look at the final stage only.
import assert from 'node:assert/strict';
import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { canUseNetns } from '../../test/support/netns.js';
import { stopChild } from '../../test/support/process.js';
import { kilnBin } from '../../test/support/serve-process.js';

const skip = canUseNetns() ? false : 'needs root and iproute2 (network namespaces)';
const SERVER = '10.61.0.1';
const HTTP = `http://${SERVER}:8080`;
const id = `${process.pid % 100000}`;
const srv = `kttls${id}`;
const cli = `kttlc${id}`;
const srvIf = `tls${id}`;
const cliIf = `tlc${id}`;
const work = mkdtempSync(join(tmpdir(), 'kiln-timeline-int-'));
const dataDir = join(work, 'data');
let serve: ChildProcess | undefined;
let log = '';

const ip = (args: string[]) => execFileSync('ip', args, { stdio: ['ignore', 'ignore', 'pipe'], timeout: 10_000 });
/** Runs a command in the client namespace: its stdout, or throws on a non-zero exit. */
const inClient = (cmd: string, args: string[], timeoutMs = 30_000) =>
  execFileSync('ip', ['netns', 'exec', cli, cmd, ...args], { encoding: 'utf8', timeout: timeoutMs });

function removeNamespaces() {
  for (const n of [srv, cli]) {
    try {
      ip(['netns', 'del', n]);
    } catch {
      /* not there */
    }
  }
}

before(async () => {
  if (skip) return;
  ip(['netns', 'add', srv]);
  ip(['netns', 'add', cli]);
  ip(['link', 'add', srvIf, 'netns', srv, 'type', 'veth', 'peer', 'name', cliIf, 'netns', cli]);
  ip(['-n', srv, 'addr', 'add', `${SERVER}/24`, 'dev', srvIf]);
  for (const [n, dev] of [
    [srv, srvIf],
    [cli, cliIf],
  ]) {
    ip(['-n', n, 'link', 'set', 'lo', 'up']);
    ip(['-n', n, 'link', 'set', dev, 'up']);
  }
  // Two profiles: one whose kernel and initrd are in the image tree, one whose kernel is missing (404).
  const profiles = join(work, 'profiles');
  const profile = (name: string, kernel: string) => {
    mkdirSync(join(profiles, name), { recursive: true });
    writeFileSync(
      join(profiles, name, 'profile.yaml'),
      [
        `name: ${name}`,
        'description: timeline test installer',
        'os: { family: debian, version: "12" }',
        'arch: x86_64',
        'install: { method: preseed }',
        'boot:',
        `  kernel: "{{ kiln.baseUrl }}/images/tl/${kernel}"`,
        '  initrd: ["{{ kiln.baseUrl }}/images/tl/initrd.img"]',
        '  cmdline: "kiln.mode=install"',
        'files: []',
        '',
      ].join('\n'),
    );
  };
  profile('tl-install', 'vmlinuz');
  profile('tl-broken', 'vmlinuz-missing');
  mkdirSync(join(dataDir, 'images', 'tl'), { recursive: true });
  writeFileSync(join(dataDir, 'images', 'tl', 'vmlinuz'), Buffer.alloc(200_000, 1));
  writeFileSync(join(dataDir, 'images', 'tl', 'initrd.img'), Buffer.alloc(300_000, 2));
  const cfg = join(work, 'kiln.yaml');
  writeFileSync(
    cfg,
    JSON.stringify({
      dhcp: {
        enabled: true,
        serverAddress: SERVER,
        httpBase: HTTP,
        subnets: [
          {
            cidr: '10.61.0.0/24',
            mode: 'full',
            pools: [{ start: '10.61.0.100', end: '10.61.0.200' }],
            router: SERVER,
            dns: [],
            leaseSeconds: 3600,
            attached: true,
          },
        ],
      },
      tftp: { enabled: true },
      timeline: {
        checkSeconds: 1,
        sessionGapSeconds: 600,
        deadlines: Object.fromEntries(
          ['boot-file', 'ipxe-dhcp', 'ipxe-script', 'kernel', 'initrd', 'agent', 'install-plan', 'install-step'].map(
            (s) => [s, 3],
          ),
        ),
        firmware: {},
      },
    }),
  );
  serve = execInServer([
    kilnBin,
    'serve',
    '--config',
    cfg,
    '--data-dir',
    dataDir,
    '--listen',
    '0.0.0.0:8080',
    '--tls-listen',
    '',
    '--public-url',
    HTTP,
    '--power-poll-interval',
    '0',
    '--node-image',
    'off',
    '--profiles-dir',
    profiles,
  ]);
  for (let i = 0; ; i++) {
    if (i > 240 || serve.exitCode !== null) throw new Error(`kiln serve did not start:\n${log.slice(-4000)}`);
    if (/DHCP serving/.test(log) && /TFTP serving/.test(log)) break;
    await new Promise((r) => setTimeout(r, 250));
  }
});

function execInServer(args: string[]): ChildProcess {
  const p = spawn('ip', ['netns', 'exec', srv, process.execPath, ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
  const take = (d: Buffer) => {
    log = (log + d.toString()).slice(-300_000);
  };
  p.stdout.on('data', take);
  p.stderr.on('data', take);
  return p;
}

after(async () => {
  await stopChild(serve, 10_000);
  removeNamespaces();
  rmSync(work, { recursive: true, force: true });
});

const token = () => readFileSync(join(dataDir, 'admin-token'), 'utf8').trim();

/** curl from the client namespace (its current address): status and body. */
function curl(
  method: string,
  path: string,
  opts: { body?: unknown; auth?: string; session?: string; from?: string } = {},
): { status: number; body: string } {
  const args = ['-s', '-m', '20', '-X', method, '-o', '-', '-w', '\n%{http_code}'];
  if (opts.from) args.push('--interface', opts.from);
  if (opts.auth) args.push('-H', `authorization: Bearer ${opts.auth}`);
  if (opts.session) args.push('-H', `x-kiln-session: ${opts.session}`);
  if (opts.body !== undefined) args.push('-H', 'content-type: application/json', '--data', JSON.stringify(opts.body));
  const out = inClient('curl', [...args, path.startsWith('http') ? path : `${HTTP}${path}`]);
  const i = out.lastIndexOf('\n');
  return { status: Number(out.slice(i + 1)), body: out.slice(0, i) };
}
const admin = <T>(method: string, path: string, body?: unknown): T => {
  const r = curl(method, path, { auth: token(), body });
  assert.ok(r.status < 300, `${method} ${path}: ${r.status} ${r.body}`);
  return JSON.parse(r.body) as T;
};

/** A new machine: the client interface gets `mac` and no address. */
function powerOn(mac: string) {
  ip(['-n', cli, 'link', 'set', cliIf, 'down']);
  ip(['-n', cli, 'link', 'set', cliIf, 'address', mac]);
  ip(['-n', cli, 'addr', 'flush', 'dev', cliIf]);
  ip(['-n', cli, 'link', 'set', cliIf, 'up']);
}

/** One DHCP exchange (DISCOVER/OFFER/REQUEST/ACK) with udhcpc; `ipxe` adds option 77 "iPXE". Gives the leased address. */
function dhcp(ipxe: boolean): string {
  const script = join(work, 'udhcpc.sh');
  writeFileSync(
    script,
    '#!/bin/sh\ncase "$1" in bound|renew) ip addr flush dev "$interface"; ip addr add "$ip/24" dev "$interface"; echo "$ip" > "$LEASE_FILE";; esac\n',
    { mode: 0o755 },
  );
  const leaseFile = join(work, 'lease');
  rmSync(leaseFile, { force: true });
  execFileSync(
    'ip',
    [
      'netns',
      'exec',
      cli,
      'env',
      `LEASE_FILE=${leaseFile}`,
      'busybox',
      'udhcpc',
      '-i',
      cliIf,
      '-n',
      '-q',
      '-f',
      '-t',
      '5',
      '-T',
      '2',
      '-V',
      'PXEClient:Arch:00000:UNDI:002001',
      ...(ipxe ? ['-x', '0x4d:69505845'] : []),
      '-s',
      script,
    ],
    { stdio: 'ignore', timeout: 30_000 },
  );
  return readFileSync(leaseFile, 'utf8').trim();
}

/** busybox tftp from the client: true when the file came. */
function tftp(file: string): boolean {
  try {
    inClient('busybox', ['tftp', '-g', '-r', file, '-l', '/dev/null', SERVER], 20_000);
    return true;
  } catch {
    return false;
  }
}

interface Timeline {
  session: string;
  status: string;
  summary: string;
  stages: Array<{ stage: string; outcome: string; detail: string }>;
}
const hostName = (mac: string) => `node-${mac.replace(/:/g, '')}`;

/** Polls the host's newest timeline until its status is `status` (bounded: 40 s). */
async function timelineWhen(mac: string, status: string): Promise<Timeline> {
  let last: Timeline | undefined;
  for (let i = 0; i < 80; i++) {
    const r = curl('GET', `/api/v1/hosts/${hostName(mac)}/timeline`, { auth: token() });
    if (r.status === 200) {
      last = JSON.parse(r.body) as Timeline;
      if (last.status === status) return last;
    }
    await new Promise((res) => setTimeout(res, 500));
  }
  assert.fail(`${mac}: timeline never ${status}; last: ${JSON.stringify(last)}\n${log.slice(-3000)}`);
}

/** The ok stages in the order first reached. */
const reached = (t: Timeline) => [...new Set(t.stages.filter((s) => s.outcome === 'ok').map((s) => s.stage))];

/** The host's boot.stalled events for one session. */
function stalls(mac: string, session: string): Array<{ data: { after: string; expected: string } }> {
  const r = admin<{ items: Array<{ kind: string; data: { session: string; after: string; expected: string } }> }>(
    'GET',
    `/api/v1/hosts/${hostName(mac)}/events?limit=500`,
  );
  return r.items.filter((e) => e.kind === 'boot.stalled' && e.data.session === session);
}

/** Discovery boot (firmware DHCP, then the discovery report), then a deploy of `profile`: the host's next boot installs. */
function discoverAndDeploy(mac: string, profile: string) {
  powerOn(mac);
  const addr = dhcp(false);
  const facts = {
    bootMac: mac,
    firmware: 'bios',
    nics: [{ name: 'eth0', mac, driver: 'virtio_net', link: 'up', speedMbps: null }],
    disks: [{ name: 'vda', sizeBytes: 2147483648, model: '', serial: '', rotational: true, removable: false }],
  };
  const d = curl('POST', '/api/v1/node/discover', { body: { facts }, from: addr });
  assert.equal(d.status, 200, d.body);
  admin('POST', `/api/v1/hosts/${hostName(mac)}/deploy`, { profile });
}

/** The install boot up to the per-host script: firmware DHCP, TFTP, iPXE DHCP, both scripts. Gives the kernel and initrd URLs and the session the script carries. */
function bootToScript(mac: string) {
  powerOn(mac);
  dhcp(false);
  assert.ok(tftp('undionly.kpxe'), 'the boot file comes over TFTP');
  const addr = dhcp(true);
  assert.equal(curl('GET', '/boot.ipxe').status, 200);
  const s = curl('GET', `/boot/host.ipxe?mac=${mac}&platform=pcbios&arch=i386`);
  assert.equal(s.status, 200);
  const kernel = /^kernel (\S+) (.*) \|\| goto failed$/m.exec(s.body);
  const initrd = /^initrd --name \S+ (\S+)/m.exec(s.body);
  assert.ok(kernel && initrd, s.body);
  const session = /kiln\.session=([0-9a-f]{12})/.exec(kernel[2])?.[1];
  assert.ok(session, `the kernel command line carries kiln.session=: ${kernel[2]}`);
  return { addr, kernel: kernel[1], initrd: initrd[1], session };
}

test(
  'timelines name the stage each machine stopped at: boot file missing on TFTP, kernel 404, installer silent after its initrd, install script failing',
  { skip, timeout: 150_000 },
  async (t) => {
    // 1. The firmware's boot file is not on the TFTP server.
    const a = '52:54:00:61:00:01';
    powerOn(a);
    dhcp(false);
    assert.equal(tftp('missing.kpxe'), false);
    const ta = await timelineWhen(a, 'stalled');
    assert.match(
      ta.summary,
      /^stopped after dhcp, expected boot-file within 3 s \(last failure: boot-file: missing\.kpxe over TFTP: file not found\)$/,
    );
    assert.deepEqual(reached(ta), ['dhcp']);
    assert.equal(stalls(a, ta.session).length, 1, 'one boot.stalled event');

    // 2. The installer's kernel is missing (HTTP 404).
    const b = '52:54:00:61:00:02';
    discoverAndDeploy(b, 'tl-broken');
    const bootB = bootToScript(b);
    assert.equal(curl('GET', bootB.kernel).status, 404);
    const tb = await timelineWhen(b, 'stalled');
    assert.equal(tb.session, bootB.session, 'the script carried the session the timeline files it under');
    assert.match(
      tb.summary,
      /^stopped after ipxe-script, expected kernel within 3 s \(last failure: kernel: \/images\/tl\/vmlinuz-missing: HTTP 404 \(not found\)\)$/,
    );
    assert.deepEqual(reached(tb), ['dhcp', 'boot-file', 'ipxe-dhcp', 'ipxe-script']);
    assert.deepEqual(
      stalls(b, tb.session).filter((e) => e.data.after === 'ipxe-script').length,
      1,
      'one boot.stalled event for the stop',
    );
    // The discovery boot before it is its own session.
    const sessionsB = admin<{ items: Array<{ session: string; status: string; reached: string }> }>(
      'GET',
      `/api/v1/hosts/${hostName(b)}/sessions`,
    ).items;
    assert.equal(sessionsB.length, 2);
    assert.equal(sessionsB[1].reached, 'facts');

    // 3. Kernel and initrd fetched, then nothing: the installer never calls Kiln.
    const c = '52:54:00:61:00:03';
    discoverAndDeploy(c, 'tl-install');
    const bootC = bootToScript(c);
    assert.equal(curl('GET', bootC.kernel).status, 200);
    assert.equal(curl('GET', bootC.initrd).status, 200);
    const tc = await timelineWhen(c, 'stalled');
    assert.equal(tc.summary, 'stopped after initrd, expected install-plan within 3 s');
    assert.deepEqual(reached(tc), ['dhcp', 'boot-file', 'ipxe-dhcp', 'ipxe-script', 'kernel', 'initrd']);
    assert.match(
      tc.stages.find((s) => s.stage === 'kernel')!.detail,
      /^\/images\/tl\/vmlinuz over HTTP, 200000 bytes in \d+ ms$/,
    );
    assert.equal(stalls(c, tc.session).filter((e) => e.data.after === 'initrd').length, 1);

    // 4. The installer enrols, reports a step, and its install script exits 1.
    const d = '52:54:00:61:00:04';
    discoverAndDeploy(d, 'tl-install');
    const bootD = bootToScript(d);
    curl('GET', bootD.kernel);
    curl('GET', bootD.initrd);
    const enrol = curl('POST', '/api/v1/node/enrol', { body: { mac: d }, from: bootD.addr, session: bootD.session });
    assert.equal(enrol.status, 200, enrol.body);
    const cred = (JSON.parse(enrol.body) as { credential: string }).credential;
    const node = { auth: cred, from: bootD.addr, session: bootD.session };
    assert.equal(
      curl('POST', '/api/v1/node/progress', { ...node, body: { stage: 'partition', message: 'vda' } }).status,
      200,
    );
    let code = 0;
    try {
      inClient('sh', ['-c', 'exit 1']);
    } catch (err) {
      code = (err as { status: number }).status;
    }
    assert.equal(code, 1);
    const failed = curl('POST', '/api/v1/node/failed', {
      ...node,
      body: { stage: 'late', reason: `install script exited ${code}` },
    });
    assert.equal(failed.status, 200, failed.body);
    const td = await timelineWhen(d, 'failed');
    assert.equal(td.session, bootD.session);
    assert.equal(td.summary, 'failed at install-step: late: install script exited 1');
    assert.deepEqual(reached(td), [
      'dhcp',
      'boot-file',
      'ipxe-dhcp',
      'ipxe-script',
      'kernel',
      'initrd',
      'agent',
      'install-step',
    ]);
    t.diagnostic(`d: ${td.stages.map((s) => `${s.stage}/${s.outcome}`).join(' → ')}`);

    // The CLI prints the same.
    const out = execFileSync('ip', ['netns', 'exec', cli, process.execPath, kilnBin, 'host', 'timeline', hostName(c)], {
      encoding: 'utf8',
      timeout: 30_000,
      env: { ...process.env, KILN_SERVER: HTTP, KILN_TOKEN: token() },
    });
    assert.match(out, /stalled: stopped after initrd, expected install-plan within 3 s$/m);
    t.diagnostic(out);
  },
);

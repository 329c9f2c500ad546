// Issue 15: an installed real Debian boots from a root on LVM on RAID 1, and
// from one disk of the mirror alone. Long under TCG (two TCG boots of Debian
// and one install), so only with KILN_MDLVM_E2E=1 (scripts/mdlvm-e2e.sh), not
// in `npm test`.
//
// The image: the CI Debian image (test/support/debian-image.ts) plus mdadm and
// lvm2, whose initramfs hooks assemble the array and activate the volume
// group; built by `kiln image build` once and cached under
// $TMPDIR/kiln-test-cache/debian-image (its own key). `kiln serve` runs in a
// namespace this file creates (DHCP, iPXE, HTTP and HTTPS); an unknown
// SeaBIOS VM with two 2 GiB virtio disks network-boots, is discovered, and is
// deployed with a machine description: on each disk a BIOS boot partition and
// a RAID member; a RAID 1 array of both; volume group `sys` on it; an ext4
// root volume. The writer puts GRUB's core image on both disks' BIOS boot
// partitions; the installed Debian calls back, and Debian's ssh client,
// trusting only Kiln's `@cert-authority` line, finds `systemctl
// is-system-running --wait` = `running`, the root on /dev/mapper/sys-root and
// both mirror members active. Then the VM is started with the second disk
// only (the first removed): SeaBIOS boots that disk's GRUB, the initramfs
// starts the degraded mirror, and ssh answers again on the same address,
// /proc/mdstat showing one of two members. The same address although the
// installed system's systemd-networkd released its lease at the power-off:
// Kiln offers a MAC its previous binding (docs/dhcp.md "A known host keeps
// its address"); a different one fails the test at once.
//
// Addresses (10.102.0.0/16 only): 10.102.0.0/24 between the root namespace and
// the test namespace, 10.102.1.0/24 on the bridge (Kiln at .1, pool
// .100–.150). KILN_KEEP_E2E_LOGS=1 keeps the work directory.
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync, type ChildProcess } from 'node:child_process';
import { cpSync, existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { buildDiscoveryImage } from '../../src/discovery/build-discovery-image.js';
import { makeRootKey, sshProbe } from '../../src/discovery/ssh-probe.js';
import { qemuAccelArgs } from '../../src/discovery/test-vm.js';
import { canUseNetns, createNetns, type TestNetns } from '../support/netns.js';
import {
  ciDebianImage,
  linkImagesInto,
  MDLVM_DEBIAN_IMAGE,
  MDLVM_DEBIAN_PACKAGES,
  type CiDebianImage,
} from '../support/debian-image.js';
import { kilnBin } from '../support/serve-process.js';
import { killChild, stopChild } from '../support/process.js';

function hasTool(cmd: string): boolean {
  try {
    execFileSync('sh', ['-c', `command -v ${cmd}`], { stdio: 'ignore' });
    return true;
  } catch {
    return false;
  }
}
const skip =
  process.env['KILN_MDLVM_E2E'] !== '1'
    ? 'long under TCG: KILN_MDLVM_E2E=1 (bash scripts/mdlvm-e2e.sh)'
    : !canUseNetns()
      ? 'needs root and iproute2 (network namespaces)'
      : !hasTool('qemu-system-x86_64') || !hasTool('qemu-img')
        ? 'needs qemu-system-x86_64 and qemu-img'
        : !existsSync('/usr/lib/ipxe/qemu/pxe-virtio.rom')
          ? "needs Debian's ipxe-qemu package (the virtio NIC's boot ROM)"
          : false;

const repo = fileURLToPath(new URL('../..', import.meta.url));
const cacheDir = process.env['KILN_IMAGE_CACHE'] ?? join(tmpdir(), 'kiln-image-cache');
const SERVER = '10.102.1.1';
const HTTP_PORT = 8080;
const HTTPS_PORT = 8443;
const DISK_BYTES = 2 * 1024 ** 3;
const MEMORY_MIB = 1024;
const MAC = '52:54:00:4b:66:01';
/** Bounds per stage (TCG on two shared cores). */
const LIMIT = { discovered: 300_000, installed: 900_000, deployed: 600_000 };

const work = mkdtempSync(join(tmpdir(), 'kiln-mdlvm-e2e-'));
const dataDir = join(work, 'data');
let image: CiDebianImage = { skip: 'not prepared' };
let ns: TestNetns | undefined;
let serve: ChildProcess | undefined;
let serveLog = '';
let api = '';
let token = '';
let failed = false;
let rootKey: { path: string; publicLine: string } | undefined;
const procs: ChildProcess[] = [];
const durations: Record<string, number> = {};

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

async function call<T = any>(method: string, path: string, body?: unknown): Promise<{ status: number; body: T }> {
  const res = await fetch(`${api}/api/v1${path}`, {
    method,
    headers: {
      authorization: `Bearer ${token}`,
      ...(body !== undefined ? { 'content-type': 'application/json' } : {}),
    },
    body: body !== undefined ? JSON.stringify(body) : undefined,
    signal: AbortSignal.timeout(10_000),
  });
  const text = await res.text();
  return { status: res.status, body: (text ? JSON.parse(text) : null) as T };
}

/** The machine description: RAID 1 of one partition per disk, LVM on it, the root a volume. */
const MACHINE = [
  'storage:',
  '  disks:',
  '    - id: d0',
  '      match: { name: vda }',
  '      partitions:',
  '        - { id: bios0, size: 1MiB, type: bios-boot }',
  '        - { id: r0, size: rest, type: raid }',
  '    - id: d1',
  '      match: { name: vdb }',
  '      partitions:',
  '        - { id: bios1, size: 1MiB, type: bios-boot }',
  '        - { id: r1, size: rest, type: raid }',
  '  raids:',
  '    - { id: md0, level: 1, members: [r0, r1] }',
  '  volumeGroups:',
  '    - id: vg0',
  '      name: sys',
  '      physical: [md0]',
  '      volumes:',
  '        - { id: root, name: root, size: rest }',
  '  filesystems:',
  '    - { device: root, type: ext4, mount: / }',
  '',
].join('\n');

/** The profiles kiln serve reads: the repository's, plus kiln-mdlvm (kiln-image with the description above). */
function writeProfiles(): string {
  const dir = join(work, 'profiles');
  cpSync(join(repo, 'profiles'), dir, { recursive: true });
  const base = readFileSync(join(dir, 'kiln-image', 'profile.yaml'), 'utf8');
  mkdirSync(join(dir, 'kiln-mdlvm', 'templates'), { recursive: true });
  writeFileSync(
    join(dir, 'kiln-mdlvm', 'profile.yaml'),
    base
      .replace(/^name: kiln-image$/m, 'name: kiln-mdlvm')
      .replace(/^description: .*$/m, 'description: kiln-image on a root volume of LVM on RAID 1 over two disks')
      .replace(/^files: \[\]$/m, 'files:\n  - { name: machine.yaml, template: templates/machine.yaml }')
      .replace(/^ {2}layout: single$/m, '  layout: machine\n  machine: machine.yaml'),
  );
  writeFileSync(join(dir, 'kiln-mdlvm', 'templates', 'machine.yaml'), MACHINE);
  return dir;
}

before(
  async () => {
    if (skip) return;
    let t0 = Date.now();
    image = await ciDebianImage(undefined, MDLVM_DEBIAN_PACKAGES, MDLVM_DEBIAN_IMAGE);
    if ('skip' in image) {
      process.stderr.write(`mdlvm e2e: skipped: ${image.skip}\n`);
      return;
    }
    durations['imageReady'] = Date.now() - t0;
    process.stderr.write(
      `mdlvm e2e: image ${image.name} (${image.key}) ${image.cached ? 'cached' : `built in ${image.buildMs} ms`}\n`,
    );
    t0 = Date.now();
    const img = await buildDiscoveryImage({ cacheDir });
    process.stderr.write(`mdlvm e2e: discovery image ${img.version} ready in ${Date.now() - t0} ms\n`);
    linkImagesInto(image.imagesDir, dataDir);
    symlinkSync(cacheDir, join(dataDir, 'cache'));

    ns = createNetns('mdl', '10.102.0.254/24', '10.102.0.1/24');
    const x = (...args: string[]) => ns!.exec('ip', args);
    x('link', 'add', 'kbr0', 'type', 'bridge', 'forward_delay', '0');
    x('addr', 'add', `${SERVER}/24`, 'dev', 'kbr0');
    x('link', 'set', 'kbr0', 'up');
    x('tuntap', 'add', 'dev', 'ktap0', 'mode', 'tap');
    x('link', 'set', 'ktap0', 'master', 'kbr0');
    x('link', 'set', 'ktap0', 'up');
    x('route', 'add', 'default', 'dev', 'kbr0');

    const cfg = join(work, 'kiln.yaml');
    writeFileSync(
      cfg,
      JSON.stringify({
        dhcp: {
          enabled: true,
          serverAddress: SERVER,
          httpBase: `http://${SERVER}:${HTTP_PORT}`,
          subnets: [
            {
              cidr: '10.102.1.0/24',
              mode: 'full',
              pools: [{ start: '10.102.1.100', end: '10.102.1.150' }],
              router: SERVER,
              dns: [],
              leaseSeconds: 3600,
              attached: true,
            },
          ],
        },
      }),
    );
    serve = ns.spawn(
      process.execPath,
      [
        kilnBin,
        'serve',
        '--config',
        cfg,
        '--data-dir',
        dataDir,
        '--profiles-dir',
        writeProfiles(),
        '--listen',
        `0.0.0.0:${HTTP_PORT}`,
        '--tls-listen',
        `0.0.0.0:${HTTPS_PORT}`,
        '--public-url',
        `http://${SERVER}:${HTTP_PORT}`,
        '--node-image',
        'auto',
        '--power-poll-interval',
        '0',
        '--log-level',
        'debug',
      ],
      { cwd: repo, stdio: ['ignore', 'pipe', 'pipe'] },
    );
    serve.stdout!.on('data', (d) => {
      serveLog += d;
    });
    serve.stderr!.on('data', (d) => {
      serveLog += d;
    });
    api = `http://10.102.0.1:${HTTP_PORT}`;
    const deadline = Date.now() + 120_000;
    for (;;) {
      if (serve.exitCode !== null) throw new Error(`kiln serve exited early:\n${serveLog}`);
      if (Date.now() > deadline)
        throw new Error(`kiln serve not ready (health, DHCP, node image) within 120 s\n${serveLog.slice(-6000)}`);
      try {
        const health = await fetch(`${api}/api/v1/health`, { signal: AbortSignal.timeout(1000) });
        if (health.ok && /DHCP serving/.test(serveLog) && /node image ready/.test(serveLog)) break;
      } catch {
        /* not listening yet */
      }
      await sleep(250);
    }
    token = readFileSync(join(dataDir, 'admin-token'), 'utf8').trim();
    const rule = await call('PUT', '/rules/mdlvm-vms', {
      match: { macPrefix: '52:54:00:4b:66' },
      assign: { name: 'mdlvm-{mac}', tags: ['e2e'] },
    });
    assert.equal(rule.status, 200, JSON.stringify(rule.body));
    rootKey = makeRootKey(work);
    const site = await call('PUT', '/secrets/site', { authorizedKeys: [rootKey.publicLine] });
    assert.equal(site.status, 200, JSON.stringify(site.body));
  },
  { timeout: 1_800_000 },
);

after(async () => {
  for (const p of procs) killChild(p);
  await stopChild(serve);
  ns?.remove();
  writeFileSync(join(work, 'kiln.log'), serveLog);
  process.stderr.write(`mdlvm e2e: durations (ms) ${JSON.stringify(durations)}\n`);
  for (const f of ['disk-a.qcow2', 'disk-b.qcow2']) rmSync(join(work, f), { force: true });
  if (failed || process.env['KILN_KEEP_E2E_LOGS']) process.stderr.write(`mdlvm e2e: logs kept in ${work}\n`);
  else rmSync(work, { recursive: true, force: true });
});

interface Host {
  id: string;
  name: string;
  state: string;
}

async function hostByMac(mac: string): Promise<Host | null> {
  const r = await call<{ items: Host[] }>('GET', `/hosts?mac=${mac}`);
  assert.equal(r.status, 200);
  return r.body.items[0] ?? null;
}

interface RunningVm {
  name: string;
  serial: string;
  child: ChildProcess;
  stderr(): string;
}

/** A SeaBIOS VM: the NIC network-boots first (iPXE ROM), then the disks in the order given. */
function startVm(name: string, disks: string[]): RunningVm {
  const serial = join(work, `${name}.serial.log`);
  const child = ns!.spawn(
    'qemu-system-x86_64',
    [
      ...qemuAccelArgs(),
      '-smp',
      '2',
      '-m',
      String(MEMORY_MIB),
      '-display',
      'none',
      '-serial',
      `file:${serial}`,
      '-netdev',
      'tap,id=n0,ifname=ktap0,script=no,downscript=no',
      '-device',
      `virtio-net-pci,id=nic0,netdev=n0,mac=${MAC},bootindex=1`,
      ...disks.flatMap((d, i) => [
        '-drive',
        `file=${d},if=none,id=d${i},format=qcow2`,
        '-device',
        `virtio-blk-pci,drive=d${i},bootindex=${i + 2}`,
      ]),
    ],
    { stdio: ['ignore', 'ignore', 'pipe'] },
  );
  procs.push(child);
  let err = '';
  child.stderr!.on('data', (d) => {
    err = (err + d).slice(-4000);
  });
  return { name, serial, child, stderr: () => err };
}

async function stopVm(vm: RunningVm): Promise<void> {
  killChild(vm.child);
  await Promise.race([new Promise((r) => vm.child.once('exit', r)), sleep(10_000)]);
}

function tail(path: string, n = 5000): string {
  return existsSync(path) ? readFileSync(path, 'latin1').slice(-n) : '(no file)';
}

/** Polls `check` every 2 s until it returns a value, the VM dies, or `ms` pass; a failure prints the VM's serial tail and Kiln's log tail. */
async function until<T>(
  vm: RunningVm,
  what: string,
  ms: number,
  check: () => Promise<T | null | undefined | false>,
): Promise<T> {
  const deadline = Date.now() + ms;
  for (;;) {
    const v = await check();
    if (v) return v;
    if (vm.child.exitCode !== null || vm.child.signalCode !== null || Date.now() > deadline) {
      failed = true;
      const why =
        vm.child.exitCode !== null || vm.child.signalCode !== null
          ? `QEMU exited (${vm.child.exitCode ?? vm.child.signalCode})`
          : `not within ${ms} ms`;
      process.stderr.write(
        `--- ${vm.name}: ${what}: ${why}\n--- qemu stderr\n${vm.stderr()}\n--- serial (tail)\n${tail(vm.serial)}\n--- kiln log (tail)\n${serveLog.slice(-6000)}\n`,
      );
      throw new Error(`${vm.name}: ${what}: ${why}`);
    }
    await sleep(2000);
  }
}

/** ssh as root trusting only Kiln's @cert-authority line (GET /ssh/known-hosts). */
async function sshIn(name: string, ip: string, command: string): Promise<string> {
  const knownHosts = await fetch(`${api}/api/v1/ssh/known-hosts`, {
    headers: { authorization: `Bearer ${token}` },
  }).then((r) => r.text());
  assert.match(knownHosts, /^@cert-authority \* ssh-ed25519 AAAA\S+/);
  const r = await sshProbe({
    dir: work,
    name,
    ip,
    key: rootKey!.path,
    knownHostsLine: knownHosts.trim(),
    netns: ns!.name,
    command,
    timeoutMs: 420_000,
  });
  assert.equal(r.code, 0, `ssh to ${ip} trusting only Kiln's CA: ${r.stderr.slice(-2000)}`);
  assert.match(r.hostCertificate ?? '', /^ssh-ed25519-cert-v01@openssh.com SHA256:\S+, serial \d+ ID "host:/);
  return r.stdout;
}

const STATUS =
  'systemctl is-system-running --wait; echo ---; findmnt -n -o SOURCE /; echo ---; cat /proc/mdstat; echo ---; systemctl --failed --no-legend; echo ---; uname -r';

test(
  'Debian with mdadm and lvm2: deployed to a root volume of LVM on RAID 1 over two disks (SeaBIOS) → boots → ssh with the CA line → running; then from the second disk alone (degraded mirror) it boots again',
  { skip, timeout: 3_000_000 },
  async (t) => {
    if ('skip' in image) {
      t.skip(image.skip);
      return;
    }
    const disks = ['disk-a.qcow2', 'disk-b.qcow2'].map((f) => join(work, f));
    for (const d of disks) execFileSync('qemu-img', ['create', '-q', '-f', 'qcow2', d, String(DISK_BYTES)]);
    let vm = startVm('vm-mirror', disks);
    let ip = '';
    try {
      const t0 = Date.now();
      const expectedName = `mdlvm-${MAC.replace(/:/g, '')}`;
      const found = await until(vm, 'discovered and named by the rule', LIMIT.discovered, async () => {
        const h = await hostByMac(MAC);
        return h && h.state === 'ready' && h.name === expectedName ? h : null;
      });
      durations['powerOnToReady'] = Date.now() - t0;
      const tDeploy = Date.now();
      const dep = await call('POST', `/hosts/${found.name}/deploy`, {
        profile: 'kiln-mdlvm',
        variables: { imageName: image.name, kernelArgs: 'console=ttyS0,115200' },
      });
      assert.equal(dep.status, 200, JSON.stringify(dep.body));
      const progress = async () =>
        (
          await call<{ items: Array<{ kind: string; message: string; data: any }> }>(
            'GET',
            `/hosts/${found.id}/events?limit=1000`,
          )
        ).body.items.filter((e) => e.kind === 'node.progress');
      await until(vm, 'installer reported stage installed', LIMIT.installed, async () =>
        (await progress()).some((e) => e.data?.stage === 'installed'),
      );
      durations['deployToInstalled'] = Date.now() - tDeploy;
      const events = await progress();
      for (const e of events)
        if (['objects', 'partition', 'bootloader', 'image'].includes(e.data?.stage))
          process.stderr.write(`mdlvm e2e: [${e.data.stage}] ${e.message}\n`);
      const tInstalled = Date.now();
      await until(vm, 'first boot from disk called back (deployed)', LIMIT.deployed, async () => {
        const h = await hostByMac(MAC);
        if (h?.state === 'failed') throw new Error(`host failed: ${JSON.stringify(h)}`);
        return h?.state === 'deployed' ? h : null;
      });
      durations['installedToDeployed'] = Date.now() - tInstalled;
      const lease = (await call<{ items: Array<{ ip: string }> }>('GET', `/leases?mac=${MAC}`)).body.items[0];
      assert.ok(lease, 'the installed VM holds a lease');
      ip = lease.ip;
      const tSsh = Date.now();
      const [running, root, mdstat, failedUnits, kernel] = (await sshIn('ssh-mirror', ip, STATUS)).split('---\n');
      durations['ssh'] = Date.now() - tSsh;
      t.diagnostic(`both disks: ${running!.trim()}, root ${root!.trim()}, kernel ${kernel!.trim()}\n${mdstat}`);
      assert.equal(running!.trim(), 'running', `failed units: ${failedUnits}`);
      assert.equal(root!.trim(), '/dev/mapper/sys-root');
      assert.match(mdstat!, /^md\d+ : active (\(auto-read-only\) )?raid1 vd[ab]2\[\d\] vd[ab]2\[\d\]/m);
      assert.match(mdstat!, /\[2\/2\] \[UU\]/);
      // The new mirror's first resync must end before a member is removed: md does not start an
      // array that is both degraded and not yet in sync. Then a clean power-off (the array marked clean).
      const tSync = Date.now();
      const synced = await sshIn('ssh-sync', ip, 'mdadm --wait /dev/md?* ; cat /proc/mdstat');
      durations['resyncWait'] = Date.now() - tSync;
      assert.doesNotMatch(synced, /resync|recovery/, synced);
      await sshProbe({
        dir: work,
        name: 'ssh-poweroff',
        ip,
        key: rootKey!.path,
        knownHostsLine: (
          await fetch(`${api}/api/v1/ssh/known-hosts`, { headers: { authorization: `Bearer ${token}` } }).then((r) =>
            r.text(),
          )
        ).trim(),
        netns: ns!.name,
        command: 'sync; systemctl poweroff',
        timeoutMs: 60_000,
      });
      const off = await Promise.race([
        new Promise((r) => vm.child.once('exit', () => r(true))),
        new Promise((r) => setTimeout(() => r(false), 180_000).unref()),
      ]);
      assert.ok(off || vm.child.exitCode !== null, 'the VM powered off within 180 s');
    } catch (err) {
      failed = true;
      throw err;
    } finally {
      await stopVm(vm);
    }

    // GRUB on both disks: the same boot code in each MBR and the same core image at LBA 2048 (each disk's BIOS boot partition).
    const sector = (disk: string, lba: number): Buffer => {
      const out = join(work, 'sector');
      rmSync(out, { force: true });
      execFileSync('qemu-img', [
        'dd',
        '-f',
        'qcow2',
        '-O',
        'raw',
        'bs=512',
        // qemu-img dd counts `count` from the start of the input, skipped blocks included.
        `count=${lba + 1}`,
        `skip=${lba}`,
        `if=${disk}`,
        `of=${out}`,
      ]);
      return readFileSync(out);
    };
    const [mbrA, mbrB, coreA, coreB] = [
      sector(disks[0]!, 0),
      sector(disks[1]!, 0),
      sector(disks[0]!, 2048),
      sector(disks[1]!, 2048),
    ];
    assert.ok(mbrA.subarray(0, 440).includes('GRUB'), 'disk a: GRUB boot code in the MBR');
    assert.deepEqual(mbrB.subarray(0, 440), mbrA.subarray(0, 440), 'disk b: the same boot code');
    assert.ok(!coreA.every((b) => b === 0), 'disk a: a core image at LBA 2048');
    assert.deepEqual(coreB, coreA, 'disk b: the same core image at LBA 2048');

    // The first disk removed: the VM has only the second; SeaBIOS boots its GRUB, the mirror runs degraded.
    vm = startVm('vm-degraded', [disks[1]!]);
    try {
      const t0 = Date.now();
      const out = await until(vm, 'ssh into the degraded mirror', LIMIT.deployed, async () => {
        // A known host keeps its address across power cycles (docs/dhcp.md "Leases"), even though its
        // systemd-networkd released the lease at the power-off above: fail at once, naming both, if not.
        const now = (await call<{ items: Array<{ ip: string }> }>('GET', `/leases?mac=${MAC}`)).body.items[0]?.ip;
        if (now !== undefined && now !== ip)
          throw new Error(`the one-disk boot took ${now}, not the first boot's ${ip}: a known host changed address`);
        try {
          return await sshIn('ssh-degraded', ip, STATUS);
        } catch {
          return null;
        }
      });
      durations['degradedPowerOnToSsh'] = Date.now() - t0;
      const releases = serveLog.split('\n').filter((l) => l.includes('dhcp: RELEASE') && l.includes(MAC)).length;
      t.diagnostic(`RELEASEs from ${MAC} Kiln saw (systemd-networkd at power-off): ${releases}; address kept: ${ip}`);
      const [running, root, mdstat, failedUnits] = out.split('---\n');
      t.diagnostic(
        `second disk alone: ${running!.trim()}, root ${root!.trim()}; failed units: ${failedUnits!.trim() || 'none'}\n${mdstat}`,
      );
      assert.equal(root!.trim(), '/dev/mapper/sys-root');
      assert.match(mdstat!, /^md\d+ : active (\(auto-read-only\) )?raid1 vda2\[\d\]/m);
      assert.match(mdstat!, /\[2\/1\] \[(U_|_U)\]/);
      assert.equal(running!.trim(), 'running', `failed units: ${failedUnits}`);
    } catch (err) {
      failed = true;
      throw err;
    } finally {
      await stopVm(vm);
    }
  },
);

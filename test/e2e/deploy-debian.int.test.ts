// Issue 15 end to end under QEMU (TCG; KVM with KILN_QEMU_ACCEL=kvm) with a
// real Debian 12 image: `kiln image build` makes a small bookworm root
// (test/support/debian-image.ts: the cloud kernel, systemd, udev, dbus,
// openssh-server, iproute2, curl; built once and cached between runs), `kiln serve`
// runs in a namespace this file creates (DHCP, iPXE, HTTP and HTTPS), an
// unknown VM network-boots, is discovered and named by a rule, is deployed with
// the kiln-image profile, the writer installs the image, the next network boot
// goes to the disk, the installed Debian calls back (host `deployed`), and
// Debian's ssh client, trusting only Kiln's `@cert-authority` line, logs in as
// root with the site's key: `systemctl is-system-running --wait` answers
// `running`. SeaBIOS in CI.
//
// With KILN_DEBIAN_E2E_FULL=1 (scripts/debian-e2e.sh), a second VM under OVMF
// with two NICs is deployed from the same image with a machine description
// whose network is an active-backup bond of both NICs with a static address:
// its host key and machine-id differ from the first VM's; the bond comes up
// with the address, and after the QEMU monitor's `set_link` takes the active
// NIC's link down it still answers ping and ssh, through the other NIC.
//
// Addresses: 10.47.0.0/24 between the root namespace and the test namespace,
// 10.47.1.0/24 on the bridge (Kiln at .1, pool .100–.150, the bond at .60);
// the namespace and `kiln serve` in it are test/e2e/serve-bed.ts's.
// If the Debian mirror does not answer and no image is cached, the tests skip
// and say so. KILN_KEEP_E2E_LOGS=1 keeps the work directory.
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync, type ChildProcess } from 'node:child_process';
import {
  copyFileSync,
  cpSync,
  existsSync,
  mkdirSync,
  mkdtempSync,
  readFileSync,
  rmSync,
  symlinkSync,
  writeFileSync,
} from 'node:fs';
import { connect } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { buildDiscoveryImage } from '../../src/discovery/build-discovery-image.js';
import { makeRootKey, sshProbe } from '../../src/discovery/ssh-probe.js';
import { qemuAccelArgs } from '../../src/discovery/test-vm.js';
import { canUseNetns, type TestNetns } from '../support/netns.js';
import { ciDebianImage, linkImagesInto, type CiDebianImage } from '../support/debian-image.js';
import { killChild, stopChild } from '../support/process.js';
import { createBridgeNetns, startBedServe, type BedServe } from './serve-bed.js';

const OVMF_CODE = '/usr/share/OVMF/OVMF_CODE_4M.fd';
const OVMF_VARS = '/usr/share/OVMF/OVMF_VARS_4M.fd';
function hasTool(cmd: string): boolean {
  try {
    execFileSync('sh', ['-c', `command -v ${cmd}`], { stdio: 'ignore' });
    return true;
  } catch {
    return false;
  }
}
const skip = !canUseNetns()
  ? 'needs root and iproute2 (network namespaces)'
  : !hasTool('qemu-system-x86_64') || !hasTool('qemu-img')
    ? 'needs qemu-system-x86_64 and qemu-img'
    : !existsSync('/usr/lib/ipxe/qemu/pxe-virtio.rom')
      ? "needs Debian's ipxe-qemu package (the virtio NIC's boot ROM)"
      : false;
const full = process.env['KILN_DEBIAN_E2E_FULL'] === '1';
const skipFull = skip
  ? skip
  : !full
    ? 'the full run: KILN_DEBIAN_E2E_FULL=1 (scripts/debian-e2e.sh)'
    : !existsSync(OVMF_CODE)
      ? 'needs the ovmf package (OVMF_CODE_4M.fd)'
      : false;

const repo = fileURLToPath(new URL('../..', import.meta.url));
const cacheDir = process.env['KILN_IMAGE_CACHE'] ?? join(tmpdir(), 'kiln-image-cache');
const NET = '10.47';
const SERVER = `${NET}.1.1`;
const BOND_ADDRESS = `${NET}.1.60`;
const DISK_BYTES = 3 * 1024 ** 3;
const MEMORY_MIB = 1024;
/** Bounds per stage (TCG on two shared cores). */
const LIMIT = { discovered: 300_000, installed: 600_000, deployed: 420_000 };

const work = mkdtempSync(join(tmpdir(), 'kiln-deb-e2e-'));
const dataDir = join(work, 'data');
let image: CiDebianImage = { skip: 'not prepared' };
let ns: TestNetns | undefined;
let bed: BedServe | undefined;
const serveLog = (): string => bed?.log() ?? '';
let api = '';
let token = '';
let failed = false;
let rootKey: { path: string; publicLine: string } | undefined;
const procs: ChildProcess[] = [];
const durations: Record<string, Record<string, number>> = {};
/** What the first VM presented: its host certificate's key fingerprint and its machine-id. */
let first: { hostKey: string; machineId: string } | undefined;

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

/** The profiles kiln serve reads: the repository's, plus kiln-bond (kiln-image with a machine description). */
function writeProfiles(): string {
  const dir = join(work, 'profiles');
  cpSync(join(repo, 'profiles'), dir, { recursive: true });
  const base = readFileSync(join(dir, 'kiln-image', 'profile.yaml'), 'utf8');
  mkdirSync(join(dir, 'kiln-bond', 'templates'), { recursive: true });
  writeFileSync(
    join(dir, 'kiln-bond', 'profile.yaml'),
    base
      .replace(/^name: kiln-image$/m, 'name: kiln-bond')
      .replace(/^description: .*$/m, 'description: kiln-image with an active-backup bond of two NICs, static address')
      .replace(/^files: \[\]$/m, 'files:\n  - { name: machine.yaml, template: templates/machine.yaml }')
      .replace(/^ {2}layout: single$/m, '  layout: machine\n  machine: machine.yaml')
      .replace(
        /^variables:$/m,
        [
          'variables:',
          '  secondMac: { description: MAC of the second bond member }',
          '  address: { description: the bond address (CIDR) }',
          '  gateway: { description: the default gateway }',
        ].join('\n'),
      ),
  );
  writeFileSync(
    join(dir, 'kiln-bond', 'templates', 'machine.yaml'),
    [
      'network:',
      '  interfaces:',
      '    - { id: n0, boot: true }',
      '    - { id: n1, mac: "{{ profile.secondMac }}" }',
      '  bonds:',
      '    - { id: bond0, mode: active-backup, members: [n0, n1], primary: n0, miimonMs: 100 }',
      '  addressing:',
      '    - { link: bond0, addresses: ["{{ profile.address }}"], gateway: "{{ profile.gateway }}" }',
      '',
    ].join('\n'),
  );
  return dir;
}

before(
  async () => {
    if (skip) return;
    let t0 = Date.now();
    image = await ciDebianImage();
    if ('skip' in image) {
      process.stderr.write(`debian e2e: skipped: ${image.skip}\n`);
      return;
    }
    process.stderr.write(
      `debian e2e: image ${image.name} (${image.key}) ${image.cached ? 'cached' : `built in ${image.buildMs} ms`}; ready in ${Date.now() - t0} ms\n`,
    );
    t0 = Date.now();
    // Reuse the shared image cache: serve's background build then finds the discovery image ready.
    const img = await buildDiscoveryImage({ cacheDir });
    process.stderr.write(`debian e2e: discovery image ${img.version} ready in ${Date.now() - t0} ms\n`);
    linkImagesInto(image.imagesDir, dataDir);
    symlinkSync(cacheDir, join(dataDir, 'cache'));

    ns = createBridgeNetns('dd', NET, ['ktap0', 'ktap1', 'ktap2']);
    t0 = Date.now();
    bed = await startBedServe(ns, {
      net: NET,
      work,
      dataDir,
      readyMs: 120_000,
      args: ['--profiles-dir', writeProfiles()],
    });
    process.stderr.write(`debian e2e: kiln serve ready in ${Date.now() - t0} ms\n`);
    api = bed.api;
    token = bed.token;
    const rule = await call('PUT', '/rules/debian-vms', {
      match: { macPrefix: '52:54:00:4b:47' },
      assign: { name: 'deb-{mac}', tags: ['e2e'] },
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
  await stopChild(bed?.child);
  ns?.remove();
  writeFileSync(join(work, 'kiln.log'), serveLog());
  process.stderr.write(`debian e2e: stage durations (ms) ${JSON.stringify(durations)}\n`);
  for (const f of ['disk-bios.qcow2', 'disk-bond.qcow2']) rmSync(join(work, f), { force: true });
  if (failed || process.env['KILN_KEEP_E2E_LOGS']) process.stderr.write(`debian e2e: logs kept in ${work}\n`);
  else rmSync(work, { recursive: true, force: true });
});

interface Host {
  id: string;
  name: string;
  state: string;
  facts: any;
}

async function hostByMac(mac: string): Promise<Host | null> {
  const r = await call<{ items: Host[] }>('GET', `/hosts?mac=${mac}`);
  assert.equal(r.status, 200);
  return r.body.items[0] ?? null;
}

interface RunningVm {
  name: string;
  serial: string;
  monitor: string;
  child: ChildProcess;
  stderr(): string;
}

/** One VM: the first NIC network-boots (virtio, iPXE ROM), extra NICs have no ROM; a monitor socket for set_link. */
function startVm(name: string, macs: string[], taps: string[], disk: string, firmware: 'bios' | 'uefi'): RunningVm {
  const serial = join(work, `${name}.serial.log`);
  const monitor = join(work, `${name}.monitor`);
  const fw =
    firmware === 'uefi'
      ? (() => {
          const vars = join(work, `${name}.vars.fd`);
          copyFileSync(OVMF_VARS, vars);
          return [
            '-machine',
            'q35',
            '-drive',
            `if=pflash,format=raw,readonly=on,file=${OVMF_CODE}`,
            '-drive',
            `if=pflash,format=raw,file=${vars}`,
            '-fw_cfg',
            'name=opt/org.tianocore/IPv4PXESupport,string=n',
            '-fw_cfg',
            'name=opt/org.tianocore/IPv6PXESupport,string=n',
          ];
        })()
      : [];
  const nics = macs.flatMap((mac, i) => [
    '-netdev',
    `tap,id=n${i},ifname=${taps[i]},script=no,downscript=no`,
    '-device',
    i === 0
      ? `virtio-net-pci,id=nic${i},netdev=n${i},mac=${mac},bootindex=1`
      : `virtio-net-pci,id=nic${i},netdev=n${i},mac=${mac},romfile=`,
  ]);
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
      '-monitor',
      `unix:${monitor},server=on,wait=off`,
      '-serial',
      `file:${serial}`,
      ...fw,
      ...nics,
      '-drive',
      `file=${disk},if=none,id=d0,format=qcow2`,
      '-device',
      'virtio-blk-pci,drive=d0,bootindex=2',
    ],
    { stdio: ['ignore', 'ignore', 'pipe'] },
  );
  procs.push(child);
  let err = '';
  child.stderr!.on('data', (d) => {
    err = (err + d).slice(-4000);
  });
  return { name, serial, monitor, child, stderr: () => err };
}

/** Sends one command to the QEMU monitor and returns what it printed before the next prompt (bounded: 10 s). */
function monitorCommand(vm: RunningVm, command: string): Promise<string> {
  return new Promise((resolve, reject) => {
    const sock = connect(vm.monitor);
    let out = '';
    let sent = false;
    const timer = setTimeout(() => {
      sock.destroy();
      reject(new Error(`QEMU monitor: no answer to ${command} within 10 s: ${out}`));
    }, 10_000);
    sock.on('data', (d) => {
      out += d.toString();
      if (!sent && out.includes('(qemu)')) {
        sent = true;
        out = '';
        sock.write(`${command}\n`);
      } else if (sent && out.includes('(qemu)')) {
        clearTimeout(timer);
        sock.end();
        resolve(out);
      }
    });
    sock.on('error', (e) => {
      clearTimeout(timer);
      reject(e);
    });
  });
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
        `--- ${vm.name}: ${what}: ${why}\n--- qemu stderr\n${vm.stderr()}\n--- serial (tail)\n${tail(vm.serial)}\n--- kiln log (tail)\n${serveLog().slice(-6000)}\n`,
      );
      throw new Error(`${vm.name}: ${what}: ${why}`);
    }
    await sleep(2000);
  }
}

/** Discovers an unknown VM, deploys it with `profile` and the CI image, waits until its first boot called back. */
async function deploy(
  vm: RunningVm,
  mac: string,
  profile: string,
  variables: Record<string, string>,
  d: Record<string, number>,
): Promise<Host> {
  const t0 = Date.now();
  const expectedName = `deb-${mac.replace(/:/g, '')}`;
  const found = await until(vm, 'discovered and named by the rule', LIMIT.discovered, async () => {
    const h = await hostByMac(mac);
    return h && h.state === 'ready' && h.name === expectedName ? h : null;
  });
  d['powerOnToReady'] = Date.now() - t0;
  const tDeploy = Date.now();
  const dep = await call('POST', `/hosts/${found.name}/deploy`, {
    profile,
    variables: { imageName: 'skip' in image ? '' : image.name, kernelArgs: 'console=ttyS0,115200', ...variables },
  });
  assert.equal(dep.status, 200, JSON.stringify(dep.body));
  assert.equal(dep.body.host.state, 'deploying');
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
  d['deployToInstalled'] = Date.now() - tDeploy;
  for (const e of await progress())
    if (['objects', 'network', 'image'].includes(e.data?.stage))
      process.stderr.write(`debian e2e ${vm.name}: ${e.message}\n`);
  const tInstalled = Date.now();
  const host = await until(vm, 'first boot from disk called back (deployed)', LIMIT.deployed, async () => {
    const h = await hostByMac(mac);
    if (h?.state === 'failed') throw new Error(`host failed: ${JSON.stringify(h)}`);
    return h?.state === 'deployed' ? h : null;
  });
  d['installedToDeployed'] = Date.now() - tInstalled;
  return host;
}

/** ssh as root trusting only Kiln's @cert-authority line (GET /ssh/known-hosts); returns the output and the host key's fingerprint. */
async function sshIn(name: string, ip: string, command: string): Promise<{ stdout: string; hostKey: string }> {
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
    timeoutMs: 300_000,
  });
  assert.equal(r.code, 0, `ssh to ${ip} trusting only Kiln's CA: ${r.stderr.slice(-2000)}`);
  const cert = /^ssh-ed25519-cert-v01@openssh.com (SHA256:\S+), serial \d+ ID "host:/.exec(r.hostCertificate ?? '');
  assert.ok(cert, `sshd presented a Kiln host certificate: ${r.hostCertificate}`);
  return { stdout: r.stdout, hostKey: cert[1]! };
}

const BIOS_MAC = '52:54:00:4b:47:01';

test(
  'Debian image built by kiln image build: unknown VM → discovered → deployed (SeaBIOS) → boots its disk → ssh with the CA line → running',
  { skip, timeout: 1_800_000 },
  async (t) => {
    if ('skip' in image) {
      t.skip(image.skip);
      return;
    }
    const disk = join(work, 'disk-bios.qcow2');
    execFileSync('qemu-img', ['create', '-q', '-f', 'qcow2', disk, String(DISK_BYTES)]);
    assert.equal(await hostByMac(BIOS_MAC), null, 'the VM is unknown to Kiln before it boots');
    const d: Record<string, number> = {};
    durations['bios'] = d;
    const vm = startVm('vm-bios', [BIOS_MAC], ['ktap0'], disk, 'bios');
    try {
      const host = await deploy(vm, BIOS_MAC, 'kiln-image', {}, d);
      const lease = (await call<{ items: Array<{ ip: string }> }>('GET', `/leases?mac=${BIOS_MAC}`)).body.items[0];
      assert.ok(lease, 'the installed VM holds a lease');
      const tSsh = Date.now();
      const r = await sshIn(
        'ssh-bios',
        lease.ip,
        'systemctl is-system-running --wait; echo ---; cat /etc/machine-id; echo ---; cat /etc/os-release; echo ---; uname -r; echo ---; systemctl --failed --no-legend',
      );
      d['ssh'] = Date.now() - tSsh;
      const [running, machineId, osRelease, kernel, failedUnits] = r.stdout.split('---\n');
      t.diagnostic(`${host.name} at ${lease.ip}: ${running!.trim()}, kernel ${kernel!.trim()}, host key ${r.hostKey}`);
      assert.match(osRelease!, /^VERSION_CODENAME=bookworm$/m);
      assert.match(kernel!, /cloud-amd64/);
      assert.equal(running!.trim(), 'running', `failed units: ${failedUnits}`);
      assert.match(machineId!, /^[0-9a-f]{32}\n$/, 'systemd made a machine-id at first boot');
      first = { hostKey: r.hostKey, machineId: machineId!.trim() };
      // The heartbeat agent (curl, HTTPS verified against Kiln's CA) reports from the installed Debian.
      const health = await until(vm, 'a heartbeat from the installed Debian', 120_000, async () => {
        const h = (await call<{ status: string }>('GET', `/hosts/${host.name}/health`)).body;
        return h.status === 'ok' ? h : null;
      });
      assert.equal(health.status, 'ok');
    } catch (err) {
      failed = true;
      throw err;
    } finally {
      killChild(vm.child);
      await Promise.race([new Promise((r) => vm.child.once('exit', r)), sleep(10_000)]);
    }
  },
);

const BOND_MACS = ['52:54:00:4b:47:02', '52:54:00:4b:47:03'];

/** /proc/net/bonding/bond0: the active slave's permanent MAC (members take the bond's MAC in `ip link`). */
function activeSlaveMac(proc: string): string | undefined {
  const active = /^Currently Active Slave: (\S+)$/m.exec(proc)?.[1];
  const block = proc.split(/\n(?=Slave Interface: )/).find((b) => b.startsWith(`Slave Interface: ${active}\n`));
  return /^Permanent HW addr: (\S+)$/m.exec(block ?? '')?.[1];
}

test(
  'the same image on a second VM (OVMF): another host key and machine-id; an active-backup bond of two NICs with a static address survives set_link off on the active NIC',
  { skip: skipFull, timeout: 1_800_000 },
  async (t) => {
    if ('skip' in image) {
      t.skip(image.skip);
      return;
    }
    const disk = join(work, 'disk-bond.qcow2');
    execFileSync('qemu-img', ['create', '-q', '-f', 'qcow2', disk, String(DISK_BYTES)]);
    const d: Record<string, number> = {};
    durations['bond-uefi'] = d;
    const vm = startVm('vm-bond', BOND_MACS, ['ktap1', 'ktap2'], disk, 'uefi');
    try {
      const host = await deploy(
        vm,
        BOND_MACS[0]!,
        'kiln-bond',
        { secondMac: BOND_MACS[1]!, address: `${BOND_ADDRESS}/24`, gateway: SERVER },
        d,
      );
      assert.deepEqual(
        host.facts.nics.map((n: { mac: string }) => n.mac).sort(),
        [...BOND_MACS].sort(),
        'discovery saw both NICs',
      );
      const status =
        'systemctl is-system-running --wait; echo ---; cat /etc/machine-id; echo ---; ip -4 -o addr show dev bond0; echo ---; cat /proc/net/bonding/bond0';
      const before = await sshIn('ssh-bond', BOND_ADDRESS, status);
      const [running, machineId, addr, bond] = before.stdout.split('---\n');
      t.diagnostic(`${host.name}: ${running!.trim()}; ${addr!.trim()}; host key ${before.hostKey}`);
      assert.equal(running!.trim(), 'running');
      assert.match(addr!, new RegExp(`inet ${BOND_ADDRESS.replaceAll('.', '\\.')}/24 `));
      assert.match(bond!, /^Bonding Mode: fault-tolerance \(active-backup\)$/m);
      assert.equal(activeSlaveMac(bond!), BOND_MACS[0], 'the primary (boot NIC) is active');
      if (first) {
        assert.notEqual(before.hostKey, first.hostKey, 'each node made its own host key');
        assert.notEqual(machineId!.trim(), first.machineId, 'each node has its own machine-id');
        t.diagnostic(
          `host keys ${first.hostKey} / ${before.hostKey}; machine-ids ${first.machineId} / ${machineId!.trim()}`,
        );
      } else t.diagnostic('the first VM did not finish: host keys and machine-ids not compared');

      // Take the active NIC's link down (QEMU monitor); the bond fails over to the other NIC.
      const tLink = Date.now();
      const said = await monitorCommand(vm, 'set_link nic0 off');
      assert.doesNotMatch(said, /not found|error/i, said);
      const ping = await until(vm, 'ping answered through the backup NIC', 120_000, async () => {
        try {
          return ns!.exec('ping', ['-c', '1', '-W', '2', BOND_ADDRESS], 10_000);
        } catch {
          return null;
        }
      });
      d['linkDownToPing'] = Date.now() - tLink;
      t.diagnostic(`after set_link nic0 off: ${/\d+ received/.exec(ping)?.[0]} after ${d['linkDownToPing']} ms`);
      const afterDown = await sshIn(
        'ssh-bond-down',
        BOND_ADDRESS,
        'cat /proc/net/bonding/bond0; echo ---; ip -4 -o addr show dev bond0',
      );
      const [bond2, addr2] = afterDown.stdout.split('---\n');
      assert.equal(activeSlaveMac(bond2!), BOND_MACS[1], 'the second NIC took over');
      assert.match(bond2!, /MII Status: down/, 'the bond saw the link go down');
      assert.match(addr2!, new RegExp(`inet ${BOND_ADDRESS.replaceAll('.', '\\.')}/24 `));
      assert.equal(afterDown.hostKey, before.hostKey);
    } catch (err) {
      failed = true;
      throw err;
    } finally {
      killChild(vm.child);
      await Promise.race([new Promise((r) => vm.child.once('exit', r)), sleep(10_000)]);
    }
  },
);

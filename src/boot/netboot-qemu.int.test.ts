// End to end: QEMU VMs (TCG) network-boot from `kiln serve` and fetch their
// per-host iPXE script, for three firmware paths. Everything runs in one
// namespace this file creates: a bridge (10.79.1.1/24) with a tap for QEMU,
// and `kiln serve` (DHCP full mode, TFTP, HTTP boot) inside it. The test
// reads the API from the root end of the namespace's veth pair (10.79.0.0/24).
// Quirks met on the way are in docs/hardware-matrix.md.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync, type ChildProcess } from 'node:child_process';
import { copyFileSync, existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { canUseNetns, createNetns, type TestNetns } from '../../test/support/netns.js';
import { kilnBin } from '../../test/support/serve-process.js';
import { killChild, stopChild } from '../../test/support/process.js';

const OVMF_CODE = '/usr/share/OVMF/OVMF_CODE_4M.fd';
const OVMF_VARS = '/usr/share/OVMF/OVMF_VARS_4M.fd';
function hasTool(cmd: string): boolean {
  try { execFileSync('sh', ['-c', `command -v ${cmd}`], { stdio: 'ignore' }); return true; } catch { return false; }
}
const skip = !canUseNetns() ? 'needs root and iproute2 (network namespaces)'
  : !hasTool('qemu-system-x86_64') ? 'needs qemu-system-x86_64'
  : !existsSync('/usr/lib/ipxe/ipxe.efi') ? "needs Debian's ipxe package (/usr/lib/ipxe)" : false;
const skipEfi = skip || (!existsSync(OVMF_CODE) ? 'needs the ovmf package (OVMF_CODE_4M.fd)' : false);

const repo = fileURLToPath(new URL('../..', import.meta.url));
const SERVER = '10.79.1.1';
const HTTP_PORT = 8080;
/** Each VM run is bounded by this: the slowest path took 42 s under TCG here, so 2.5x margin; four VMs stay under 9 min at worst. */
const VM_LIMIT_MS = 110_000;
/** SMBIOS UUID of every VM; iPXE's ${uuid} reports it in this (canonical) order. */
const VM_UUID = '4b696c6e-0000-4000-8000-0000000000a1';

const work = mkdtempSync(join(tmpdir(), 'kiln-netboot-'));
let ns: TestNetns | undefined;
let serve: ChildProcess | undefined;
let serveLog = '';
let api = '';
let token = '';
const procs: ChildProcess[] = [];

const kill = killChild;
const stop = stopChild;

before(async () => {
  if (skip) return;
  ns = createNetns('nb', '10.79.0.254/24', '10.79.0.1/24');
  const x = (...args: string[]) => ns!.exec('ip', args);
  // forward_delay 0: the tap port forwards as soon as QEMU opens it (no STP here).
  x('link', 'add', 'kbr0', 'type', 'bridge', 'forward_delay', '0');
  x('addr', 'add', `${SERVER}/24`, 'dev', 'kbr0');
  x('link', 'set', 'kbr0', 'up');
  x('tuntap', 'add', 'dev', 'ktap0', 'mode', 'tap');
  x('link', 'set', 'ktap0', 'master', 'kbr0');
  x('link', 'set', 'ktap0', 'up');
  // Limited broadcasts (DHCP replies to 255.255.255.255) leave by the bridge, inside the namespace only.
  x('route', 'add', 'default', 'dev', 'kbr0');

  const cfg = join(work, 'kiln.yaml');
  writeFileSync(cfg, JSON.stringify({
    dhcp: {
      enabled: true, serverAddress: SERVER, httpBase: `http://${SERVER}:${HTTP_PORT}`,
      subnets: [{ cidr: '10.79.1.0/24', mode: 'full', pools: [{ start: '10.79.1.100', end: '10.79.1.150' }], router: SERVER, dns: [], leaseSeconds: 600, attached: true }],
      // Answer iPXE's router solicitations (lifetime 0, no prefix): no ~15 s IPv6 wait (docs/booting.md).
      routerAdvertisements: { interfaces: ['kbr0'] },
    },
  }));
  const dataDir = join(work, 'data');
  serve = ns.spawn(process.execPath, [kilnBin, 'serve', '--config', cfg, '--data-dir', dataDir, '--listen', `0.0.0.0:${HTTP_PORT}`, '--tls-listen', '',
    '--public-url', `http://${SERVER}:${HTTP_PORT}`, '--node-image', 'off', '--power-poll-interval', '0', '--log-level', 'debug'], { cwd: repo, stdio: ['ignore', 'pipe', 'pipe'] });
  serve.stdout!.on('data', (d) => { serveLog += d; });
  serve.stderr!.on('data', (d) => { serveLog += d; });
  api = `http://10.79.0.1:${HTTP_PORT}`;
  const deadline = Date.now() + 60_000;
  for (;;) {
    if (serve.exitCode !== null) throw new Error(`kiln serve exited early:\n${serveLog}`);
    if (Date.now() > deadline) throw new Error(`kiln serve did not answer within 60 s:\n${serveLog}`);
    try {
      if ((await fetch(`${api}/api/v1/health`, { signal: AbortSignal.timeout(1000) })).ok && /DHCP serving/.test(serveLog)) break;
    } catch { /* not up yet */ }
    await new Promise((r) => setTimeout(r, 250));
  }
  token = readFileSync(join(dataDir, 'admin-token'), 'utf8').trim();
});

after(async () => {
  for (const p of procs) kill(p);
  await stop(serve);
  ns?.remove();
  if (process.env['KILN_KEEP_NETBOOT_LOGS']) writeFileSync(join(work, 'kiln.log'), serveLog);
  if (process.env['KILN_KEEP_NETBOOT_LOGS']) process.stderr.write(`netboot logs kept in ${work}\n`);
  else rmSync(work, { recursive: true, force: true });
});

interface BootEvent { seq: number; at: string; message: string; data: { mac: string; platform: string; arch: string; uuid: string | null; state: string } }

async function bootEvents(mac: string): Promise<BootEvent[]> {
  const res = await fetch(`${api}/api/v1/events?kind=boot.script&limit=1000`, { headers: { authorization: `Bearer ${token}` }, signal: AbortSignal.timeout(5000) });
  assert.equal(res.status, 200);
  const items = (await res.json() as { items: BootEvent[] }).items;
  return items.filter((e) => e.data?.mac === mac);
}

/** Parsed pino lines of the serve log, from `offset` on. */
function logLines(offset: number): Array<Record<string, unknown> & { time: number; msg: string }> {
  return serveLog.slice(offset).split('\n').flatMap((l) => { try { return [JSON.parse(l)]; } catch { return []; } });
}

interface VmRun { ms: number; events: BootEvent[]; log: ReturnType<typeof logLines>; serial: string }

/**
 * Boots one VM on the tap until Kiln records a `boot.script` event for `mac`
 * (or VM_LIMIT_MS passes), then stops it. Serial output goes to a file that
 * failures print.
 */
async function bootVm(name: string, mac: string, qemuArgs: string[]): Promise<VmRun> {
  const serial = join(work, `${name}.serial.log`);
  const debugcon = join(work, `${name}.debugcon.log`);
  const offset = serveLog.length;
  const started = Date.now();
  const vm = ns!.spawn('qemu-system-x86_64', ['-accel', 'tcg', '-m', '512', '-display', 'none', '-monitor', 'none', '-no-reboot',
    '-serial', `file:${serial}`, '-chardev', `file,id=dbg,path=${debugcon}`, '-device', 'isa-debugcon,iobase=0x402,chardev=dbg',
    '-uuid', VM_UUID,
    '-netdev', 'tap,id=n0,ifname=ktap0,script=no,downscript=no', ...qemuArgs], { stdio: ['ignore', 'ignore', 'pipe'] });
  procs.push(vm);
  let qemuErr = '';
  vm.stderr!.on('data', (d) => { qemuErr += d; });
  let events: BootEvent[] = [];
  try {
    while (Date.now() - started < VM_LIMIT_MS) {
      if (vm.exitCode !== null) break;
      events = await bootEvents(mac);
      if (events.length > 0 && /served per-host iPXE script/.test(serveLog.slice(offset))) break;
      await new Promise((r) => setTimeout(r, 1000));
    }
  } finally {
    await stop(vm, 5000);
  }
  const ms = Date.now() - started;
  const out = existsSync(serial) ? readFileSync(serial, 'latin1') : '';
  const dbg = existsSync(debugcon) ? readFileSync(debugcon, 'latin1') : '';
  if (events.length === 0) {
    process.stderr.write(`--- ${name}: no boot.script event after ${ms} ms (qemu exit ${vm.exitCode ?? vm.signalCode})\n--- qemu stderr\n${qemuErr}\n--- serial (tail)\n${out.slice(-4000)}\n--- debugcon (tail)\n${dbg.slice(-3000)}\n--- kiln log (tail)\n${serveLog.slice(offset).slice(-6000)}\n`);
  }
  return { ms, events, log: logLines(offset), serial: out };
}

/** Asserts the event and the log line for `mac`, and returns timings from Kiln's log (ms since the VM started). */
/** The host's own timeline (`/hosts/:host/events`, host named after its MAC) has the fetch too. */
async function assertOnTimeline(mac: string): Promise<void> {
  const host = `node-${mac.replace(/:/g, '')}`;
  const res = await fetch(`${api}/api/v1/hosts/${host}/events?limit=1000`, { headers: { authorization: `Bearer ${token}` }, signal: AbortSignal.timeout(5000) });
  assert.equal(res.status, 200, `GET /hosts/${host}/events`);
  const kinds = (await res.json() as { items: Array<{ kind: string }> }).items.map((e) => e.kind);
  assert.ok(kinds.includes('boot.script'), `${host} timeline: ${kinds.join(', ')}`);
}

function assertFetched(run: VmRun, mac: string, platform: 'pcbios' | 'efi', arch: string): Record<string, number> {
  assert.ok(run.events.length > 0, `no boot.script event for ${mac} within ${VM_LIMIT_MS} ms`);
  const e = run.events[0]!;
  assert.equal(e.data.mac, mac);
  assert.equal(e.data.platform, platform);
  assert.equal(e.data.arch, arch);
  assert.equal(e.data.uuid, VM_UUID);
  assert.match(e.message, new RegExp(`\\(${mac}\\) fetched its iPXE script from 10\\.79\\.1\\.1\\d\\d`));
  const served = run.log.find((l) => l.msg === 'served per-host iPXE script' && l['mac'] === mac);
  assert.ok(served, `kiln log has no 'served per-host iPXE script' line for ${mac}`);
  assert.equal(served['platform'], platform);
  assert.match(String(served['ip']), /^10\.79\.1\.1\d\d$/);
  const bound = run.log.filter((l) => l.msg === 'dhcp: lease bound' && l['mac'] === mac && l.time <= served.time);
  assert.ok(bound.length > 0, `no DHCP lease bound for ${mac} before the script fetch`);
  const chain = run.log.filter((l) => (l['req'] as { url?: string } | undefined)?.url === '/boot.ipxe' && l.time <= served.time).at(-1);
  const lastBound = bound.at(-1)!.time;
  return { leases: bound.length, ackToChainMs: chain ? chain.time - lastBound : -1, ackToHostScriptMs: served.time - lastBound };
}

test('SeaBIOS + iPXE option ROM (e1000): DHCP as iPXE, /boot.ipxe, per-host script', { skip, timeout: VM_LIMIT_MS + 20_000 }, async () => {
  const mac = '52:54:00:4b:10:01';
  const run = await bootVm('bios-ipxe', mac, ['-boot', 'n', '-device', `e1000,netdev=n0,mac=${mac}`]);
  // Debian's BIOS ROMs are 32-bit builds: iPXE reports buildarch i386 on an x86_64 CPU.
  const t = assertFetched(run, mac, 'pcbios', 'i386');
  await assertOnTimeline(mac);
  process.stderr.write(`bios-ipxe: script fetched ${run.ms} ms after start; ${JSON.stringify(t)}\n`);
});

function ovmfArgs(name: string): string[] {
  const vars = join(work, `${name}.vars.fd`);
  copyFileSync(OVMF_VARS, vars);
  return ['-machine', 'q35', '-drive', `if=pflash,format=raw,readonly=on,file=${OVMF_CODE}`, '-drive', `if=pflash,format=raw,file=${vars}`];
}

test('OVMF + iPXE EFI option ROM (e1000): DHCP as iPXE, /boot.ipxe, per-host script', { skip: skipEfi, timeout: VM_LIMIT_MS + 20_000 }, async () => {
  const mac = '52:54:00:4b:10:02';
  const run = await bootVm('ovmf-ipxe', mac, [...ovmfArgs('ovmf-ipxe'), '-device', `e1000,netdev=n0,mac=${mac},bootindex=1`]);
  const t = assertFetched(run, mac, 'efi', 'x86_64');
  await assertOnTimeline(mac);
  process.stderr.write(`ovmf-ipxe: script fetched ${run.ms} ms after start; ${JSON.stringify(t)}\n`);
});

test('OVMF UEFI HTTP boot (virtio-net, no option ROM): ipxe.efi over HTTP, then iPXE fetches the per-host script', { skip: skipEfi, timeout: VM_LIMIT_MS + 20_000 }, async () => {
  const mac = '52:54:00:4b:10:03';
  const offset = serveLog.length;
  const run = await bootVm('ovmf-http', mac, [...ovmfArgs('ovmf-http'),
    // OVMF tries PXEv4 (and PXEv6) before HTTPv4; turning PXE off makes HTTP boot the first network option.
    '-fw_cfg', 'name=opt/org.tianocore/IPv4PXESupport,string=n', '-fw_cfg', 'name=opt/org.tianocore/IPv6PXESupport,string=n',
    '-device', `virtio-net-pci,netdev=n0,mac=${mac},romfile=,bootindex=1`]);
  const t = assertFetched(run, mac, 'efi', 'x86_64');
  await assertOnTimeline(mac);
  // The firmware itself fetched ipxe.efi over HTTP before iPXE ran.
  const efi = logLines(offset).filter((l) => (l['req'] as { url?: string } | undefined)?.url === '/ipxe/ipxe.efi');
  assert.ok(efi.some((l) => (l['req'] as { method: string }).method === 'GET'), 'OVMF did not GET /ipxe/ipxe.efi over HTTP');
  // Two DHCP exchanges: OVMF's HTTPv4 boot (answered with the URL and 60=HTTPClient), then iPXE's.
  assert.ok(t['leases']! >= 2, `expected the firmware's and iPXE's leases, got ${t['leases']}`);
  assert.ok(!logLines(offset).some((l) => l.msg === 'tftp: transfer started'), 'HTTP boot must not touch TFTP');
  process.stderr.write(`ovmf-http: script fetched ${run.ms} ms after start; ipxe.efi requests ${efi.map((l) => (l['req'] as { method: string }).method).join(',')}; ${JSON.stringify(t)}\n`);
});

test('OVMF PXEv4 in its default boot order (virtio-net, no option ROM): ipxe.efi over TFTP, then the per-host script', { skip: skipEfi, timeout: VM_LIMIT_MS + 20_000 }, async () => {
  const mac = '52:54:00:4b:10:04';
  const offset = serveLog.length;
  const run = await bootVm('ovmf-pxe', mac, [...ovmfArgs('ovmf-pxe'), '-device', `virtio-net-pci,netdev=n0,mac=${mac},romfile=,bootindex=1`]);
  const t = assertFetched(run, mac, 'efi', 'x86_64');
  await assertOnTimeline(mac);
  // PXEv4 comes first: the firmware took ipxe.efi by TFTP, never the HTTP URL.
  assert.ok(/Start PXE over IPv4/.test(run.serial), 'serial shows no PXEv4 attempt');
  assert.ok(!/Start HTTP Boot/.test(run.serial), 'serial shows an HTTP boot attempt: PXEv4 did not boot');
  assert.ok(!logLines(offset).some((l) => (l['req'] as { url?: string } | undefined)?.url === '/ipxe/ipxe.efi'), 'PXE boot must not fetch ipxe.efi over HTTP');
  assert.ok(logLines(offset).some((l) => l.msg === 'tftp: transfer started' && l['path'] === 'ipxe.efi'), 'ipxe.efi was not sent by TFTP');
  process.stderr.write(`ovmf-pxe: script fetched ${run.ms} ms after start; ${JSON.stringify(t)}\n`);
});

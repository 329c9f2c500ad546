// End to end: QEMU VMs (TCG) network-boot from `kiln serve` and fetch their
// per-host iPXE script, for four x86 firmware paths. The bed (one namespace:
// bridge 10.79.1.1/24, a tap for QEMU, `kiln serve` inside; the API read over
// the veth pair 10.79.0.0/24) is test/support/netboot-bed.ts. Quirks met on
// the way are in docs/hardware-matrix.md; arm64 is netboot-arm64-qemu.int.test.ts.
// Two more VMs, one per firmware kind, are failure injection: deployed with a
// profile whose kernel is missing, their timelines must name that stage.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { copyFileSync, existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { execFileSync } from 'node:child_process';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { canUseNetns } from '../../test/support/netns.js';
import { kilnBin } from '../../test/support/serve-process.js';
import {
  BED_TAP,
  hasTool,
  runVm,
  startNetbootBed,
  type BootEvent,
  type LogLine,
  type NetbootBed,
} from '../../test/support/netboot-bed.js';

const OVMF_CODE = '/usr/share/OVMF/OVMF_CODE_4M.fd';
const OVMF_VARS = '/usr/share/OVMF/OVMF_VARS_4M.fd';
const skip = !canUseNetns()
  ? 'needs root and iproute2 (network namespaces)'
  : !hasTool('qemu-system-x86_64')
    ? 'needs qemu-system-x86_64'
    : !existsSync('/usr/lib/ipxe/ipxe.efi')
      ? "needs Debian's ipxe package (/usr/lib/ipxe)"
      : false;
const skipEfi = skip || (!existsSync(OVMF_CODE) ? 'needs the ovmf package (OVMF_CODE_4M.fd)' : false);

/** Each VM run is bounded by this: the slowest path took 42 s under TCG here, so 2.5x margin; four VMs stay under 9 min at worst. */
const VM_LIMIT_MS = 110_000;
/** SMBIOS UUID of every VM; iPXE's ${uuid} reports it in this (canonical) order. */
const VM_UUID = '4b696c6e-0000-4000-8000-0000000000a1';

const work = mkdtempSync(join(tmpdir(), 'kiln-netboot-'));
let bed: NetbootBed | undefined;

before(async () => {
  if (skip) return;
  // One profile whose kernel is not in the image tree (HTTP 404): the failure-injection VMs below are deployed with it.
  const profiles = join(work, 'profiles');
  mkdirSync(join(profiles, 'vm-broken'), { recursive: true });
  writeFileSync(
    join(profiles, 'vm-broken', 'profile.yaml'),
    [
      'name: vm-broken',
      'description: failure injection (kernel missing)',
      'os: { family: debian, version: "12" }',
      'arch: x86_64',
      'install: { method: preseed }',
      'boot:',
      '  kernel: "{{ kiln.baseUrl }}/images/vm/vmlinuz-missing"',
      '  initrd: ["{{ kiln.baseUrl }}/images/vm/initrd.img"]',
      '  cmdline: "kiln.mode=install"',
      'files: []',
      '',
    ].join('\n'),
  );
  bed = await startNetbootBed({
    tag: 'nb',
    net: 79,
    work,
    serveArgs: ['--profiles-dir', profiles],
    // A short kernel deadline, checked every second, so the failure-injection VMs stall within seconds.
    config: { timeline: { checkSeconds: 1, deadlines: { kernel: 5 } } },
  });
});

after(async () => {
  await bed?.close();
  if (process.env['KILN_KEEP_NETBOOT_LOGS']) writeFileSync(join(work, 'kiln.log'), bed?.log() ?? '');
  if (process.env['KILN_KEEP_NETBOOT_LOGS']) process.stderr.write(`netboot logs kept in ${work}\n`);
  else rmSync(work, { recursive: true, force: true });
});

const bootEvents = (mac: string): Promise<BootEvent[]> => bed!.bootEvents(mac);
const logLines = (offset: number): LogLine[] => bed!.logLines(offset);

interface BootRun {
  ms: number;
  events: BootEvent[];
  log: LogLine[];
  serial: string;
}

/**
 * Runs one VM on the tap (TCG, 512 MiB, no reboot, serial and debugcon to files) until `until` answers true or
 * VM_LIMIT_MS passes, then stops it. The one QEMU command line of this file.
 */
async function runBedVm(name: string, qemuArgs: string[], until: () => Promise<boolean>) {
  const serialPath = join(work, `${name}.serial.log`);
  const debugcon = join(work, `${name}.debugcon.log`);
  const run = await runVm(
    bed!,
    'qemu-system-x86_64',
    [
      '-accel',
      'tcg',
      '-m',
      '512',
      '-display',
      'none',
      '-monitor',
      'none',
      '-no-reboot',
      '-serial',
      `file:${serialPath}`,
      '-chardev',
      `file,id=dbg,path=${debugcon}`,
      '-device',
      'isa-debugcon,iobase=0x402,chardev=dbg',
      '-uuid',
      VM_UUID,
      '-netdev',
      `tap,id=n0,ifname=${BED_TAP},script=no,downscript=no`,
      ...qemuArgs,
    ],
    { serialPath, limitMs: VM_LIMIT_MS, until },
  );
  const dbg = existsSync(debugcon) ? readFileSync(debugcon, 'latin1') : '';
  return { ...run, dbg };
}

/**
 * Boots one VM on the tap until Kiln records a `boot.script` event for `mac`
 * (or VM_LIMIT_MS passes), then stops it. Serial output goes to a file that
 * failures print.
 */
async function bootVm(name: string, mac: string, qemuArgs: string[]): Promise<BootRun> {
  const offset = bed!.log().length;
  let events: BootEvent[] = [];
  const run = await runBedVm(name, qemuArgs, async () => {
    events = await bootEvents(mac);
    return events.length > 0 && /served per-host iPXE script/.test(bed!.log().slice(offset));
  });
  if (events.length === 0) {
    process.stderr.write(
      `--- ${name}: no boot.script event after ${run.ms} ms (qemu exit ${run.exit})\n--- qemu stderr\n${run.stderr}\n--- serial (tail)\n${run.serial.slice(-4000)}\n--- debugcon (tail)\n${run.dbg.slice(-3000)}\n--- kiln log (tail)\n${bed!.log().slice(offset).slice(-6000)}\n`,
    );
  }
  return { ms: run.ms, events, log: logLines(offset), serial: run.serial };
}

/** Asserts the event and the log line for `mac`, and returns timings from Kiln's log (ms since the VM started). */
/**
 * The host's own events (`/hosts/:host/events`, host named after its MAC) have the fetch too, and its boot
 * timeline (`/hosts/:host/timeline`, docs/timeline.md) has this boot's stages, in order, in one session.
 */
async function assertOnTimeline(mac: string, stages: string[], firmware: string): Promise<void> {
  const host = `node-${mac.replace(/:/g, '')}`;
  const get = async (path: string) => {
    const res = await fetch(`${bed!.api}/api/v1/hosts/${host}/${path}`, {
      headers: { authorization: `Bearer ${bed!.token}` },
      signal: AbortSignal.timeout(5000),
    });
    assert.equal(res.status, 200, `GET /hosts/${host}/${path}`);
    return res.json() as Promise<unknown>;
  };
  const kinds = ((await get('events?limit=1000')) as { items: Array<{ kind: string }> }).items.map((e) => e.kind);
  assert.ok(kinds.includes('boot.script'), `${host} events: ${kinds.join(', ')}`);
  // Observations are filed in the background: bounded wait (10 x 200 ms) for the script's.
  let t:
    { firmware: string; stages: Array<{ at: string; stage: string; outcome: string; detail: string }> } | undefined;
  for (let i = 0; i < 10; i++) {
    t = (await get('timeline')) as typeof t;
    if (t!.stages.some((s) => s.stage === 'ipxe-script' && s.detail.startsWith('per-host'))) break;
    await new Promise((r) => setTimeout(r, 200));
  }
  const reached = [...new Set(t!.stages.filter((s) => s.outcome === 'ok').map((s) => s.stage))];
  assert.deepEqual(reached, stages, `${host} timeline: ${JSON.stringify(t!.stages)}`);
  assert.equal(t!.firmware, firmware);
  const sessions = (await get('sessions')) as { items: unknown[] };
  assert.equal(sessions.items.length, 1, 'one power-on, one boot session');
  // Seconds from each stage to the next (first observation of each): what docs/timeline.md's deadlines are set against.
  const first = new Map<string, number>();
  for (const s of t!.stages) if (s.outcome === 'ok' && !first.has(s.stage)) first.set(s.stage, Date.parse(s.at));
  const at = [...first.entries()];
  const gaps = at.slice(1).map(([stage, ms], i) => `${stage} +${((ms - at[i][1]) / 1000).toFixed(2)} s`);
  process.stderr.write(`${firmware} timeline ${host}: ${at[0][0]}, ${gaps.join(', ')}\n`);
}

/** The data plane's work so far shows in /metrics: DHCP replies, a completed TFTP transfer, per-host scripts served. */
async function assertMetrics(): Promise<void> {
  const res = await fetch(`${bed!.api}/metrics`, {
    headers: { authorization: `Bearer ${bed!.token}` },
    signal: AbortSignal.timeout(5000),
  });
  assert.equal(res.status, 200);
  const text = await res.text();
  const value = (re: RegExp): number => Number(re.exec(text)?.[1] ?? 0);
  assert.ok(
    value(/^kiln_dhcp_packets_total\{outcome="replied"\} (\d+)$/m) >= 2,
    'kiln_dhcp_packets_total{outcome="replied"}',
  );
  assert.ok(
    value(/^kiln_tftp_transfers_total\{outcome="complete"\} (\d+)$/m) >= 1,
    'kiln_tftp_transfers_total{outcome="complete"}',
  );
  assert.ok(value(/^kiln_tftp_sent_bytes_total (\d+)$/m) > 0, 'kiln_tftp_sent_bytes_total');
  assert.ok(
    value(/^kiln_http_requests_total\{method="GET",route="\/boot\/host\.ipxe",status="200"\} (\d+)$/m) >= 1,
    'per-host scripts in kiln_http_requests_total',
  );
  assert.ok(
    value(/^kiln_dhcp_active_leases\{subnet="10\.79\.1\.0\/24",state="bound"\} (\d+)$/m) >= 1,
    'kiln_dhcp_active_leases',
  );
}

/** `kiln lease list --mac` (the CLI as a process, against the bed's API) shows the VM's durable lease on the bridge subnet. */
function assertLeasedByCli(mac: string, ip: string): void {
  const out = execFileSync(
    process.execPath,
    [kilnBin, '--server', bed!.api, '--token', bed!.token, 'lease', 'list', '--mac', mac, '--json'],
    { encoding: 'utf8', timeout: 30_000 },
  );
  const leases = JSON.parse(out) as Array<{ ip: string; mac: string; state: string; active: boolean; subnet: string }>;
  assert.deepEqual(
    leases.map((l) => [l.ip, l.mac, l.state, l.active, l.subnet]),
    [[ip, mac, 'bound', true, '10.79.1.0/24']],
  );
}

function assertFetched(run: BootRun, mac: string, platform: 'pcbios' | 'efi', arch: string): Record<string, number> {
  assert.ok(run.events.length > 0, `no boot.script event for ${mac} within ${VM_LIMIT_MS} ms`);
  const e = run.events[0];
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
  const chain = run.log
    .filter(
      (l) =>
        (l.msg === 'request' ? (l['url'] as string | undefined) : undefined) === '/boot.ipxe' && l.time <= served.time,
    )
    .at(-1);
  const lastBound = bound.at(-1)!.time;
  return {
    leases: bound.length,
    ackToChainMs: chain ? chain.time - lastBound : -1,
    ackToHostScriptMs: served.time - lastBound,
  };
}

test(
  'SeaBIOS + iPXE option ROM (e1000): DHCP as iPXE, /boot.ipxe, per-host script',
  { skip, timeout: VM_LIMIT_MS + 20_000 },
  async () => {
    const mac = '52:54:00:4b:10:01';
    const run = await bootVm('bios-ipxe', mac, ['-boot', 'n', '-device', `e1000,netdev=n0,mac=${mac}`]);
    // Debian's BIOS ROMs are 32-bit builds: iPXE reports buildarch i386 on an x86_64 CPU.
    const t = assertFetched(run, mac, 'pcbios', 'i386');
    await assertOnTimeline(mac, ['ipxe-dhcp', 'ipxe-script'], 'ipxe');
    assertLeasedByCli(
      mac,
      String(run.log.find((l) => l.msg === 'served per-host iPXE script' && l['mac'] === mac)!['ip']),
    );
    process.stderr.write(`bios-ipxe: script fetched ${run.ms} ms after start; ${JSON.stringify(t)}\n`);
  },
);

function ovmfArgs(name: string): string[] {
  const vars = join(work, `${name}.vars.fd`);
  copyFileSync(OVMF_VARS, vars);
  return [
    '-machine',
    'q35',
    '-drive',
    `if=pflash,format=raw,readonly=on,file=${OVMF_CODE}`,
    '-drive',
    `if=pflash,format=raw,file=${vars}`,
  ];
}

test(
  'OVMF + iPXE EFI option ROM (e1000): DHCP as iPXE, /boot.ipxe, per-host script',
  { skip: skipEfi, timeout: VM_LIMIT_MS + 20_000 },
  async () => {
    const mac = '52:54:00:4b:10:02';
    const run = await bootVm('ovmf-ipxe', mac, [
      ...ovmfArgs('ovmf-ipxe'),
      '-device',
      `e1000,netdev=n0,mac=${mac},bootindex=1`,
    ]);
    const t = assertFetched(run, mac, 'efi', 'x86_64');
    await assertOnTimeline(mac, ['ipxe-dhcp', 'ipxe-script'], 'ipxe');
    process.stderr.write(`ovmf-ipxe: script fetched ${run.ms} ms after start; ${JSON.stringify(t)}\n`);
  },
);

test(
  'OVMF UEFI HTTP boot (virtio-net, no option ROM): ipxe.efi over HTTP, then iPXE fetches the per-host script',
  { skip: skipEfi, timeout: VM_LIMIT_MS + 20_000 },
  async () => {
    const mac = '52:54:00:4b:10:03';
    const offset = bed!.log().length;
    const run = await bootVm('ovmf-http', mac, [
      ...ovmfArgs('ovmf-http'),
      // OVMF tries PXEv4 (and PXEv6) before HTTPv4; turning PXE off makes HTTP boot the first network option.
      '-fw_cfg',
      'name=opt/org.tianocore/IPv4PXESupport,string=n',
      '-fw_cfg',
      'name=opt/org.tianocore/IPv6PXESupport,string=n',
      '-device',
      `virtio-net-pci,netdev=n0,mac=${mac},romfile=,bootindex=1`,
    ]);
    const t = assertFetched(run, mac, 'efi', 'x86_64');
    await assertOnTimeline(mac, ['dhcp', 'boot-file', 'ipxe-dhcp', 'ipxe-script'], 'uefi-http');
    // The firmware itself fetched ipxe.efi over HTTP before iPXE ran.
    const efi = logLines(offset).filter(
      (l) => (l.msg === 'request' ? (l['url'] as string | undefined) : undefined) === '/ipxe/ipxe.efi',
    );
    assert.ok(
      efi.some((l) => (l['method'] as string) === 'GET'),
      'OVMF did not GET /ipxe/ipxe.efi over HTTP',
    );
    // Two DHCP exchanges: OVMF's HTTPv4 boot (answered with the URL and 60=HTTPClient), then iPXE's.
    assert.ok(t['leases'] >= 2, `expected the firmware's and iPXE's leases, got ${t['leases']}`);
    assert.ok(!logLines(offset).some((l) => l.msg === 'tftp: transfer started'), 'HTTP boot must not touch TFTP');
    process.stderr.write(
      `ovmf-http: script fetched ${run.ms} ms after start; ipxe.efi requests ${efi.map((l) => l['method'] as string).join(',')}; ${JSON.stringify(t)}\n`,
    );
  },
);

test(
  'OVMF PXEv4 in its default boot order (virtio-net, no option ROM): ipxe.efi over TFTP, then the per-host script',
  { skip: skipEfi, timeout: VM_LIMIT_MS + 20_000 },
  async () => {
    const mac = '52:54:00:4b:10:04';
    const offset = bed!.log().length;
    const run = await bootVm('ovmf-pxe', mac, [
      ...ovmfArgs('ovmf-pxe'),
      '-device',
      `virtio-net-pci,netdev=n0,mac=${mac},romfile=,bootindex=1`,
    ]);
    const t = assertFetched(run, mac, 'efi', 'x86_64');
    await assertOnTimeline(mac, ['dhcp', 'boot-file', 'ipxe-dhcp', 'ipxe-script'], 'uefi-pxe');
    // PXEv4 comes first: the firmware took ipxe.efi by TFTP, never the HTTP URL.
    assert.ok(/Start PXE over IPv4/.test(run.serial), 'serial shows no PXEv4 attempt');
    assert.ok(!/Start HTTP Boot/.test(run.serial), 'serial shows an HTTP boot attempt: PXEv4 did not boot');
    assert.ok(
      !logLines(offset).some(
        (l) => (l.msg === 'request' ? (l['url'] as string | undefined) : undefined) === '/ipxe/ipxe.efi',
      ),
      'PXE boot must not fetch ipxe.efi over HTTP',
    );
    assert.ok(
      logLines(offset).some((l) => l.msg === 'tftp: transfer started' && l['path'] === 'ipxe.efi'),
      'ipxe.efi was not sent by TFTP',
    );
    await assertMetrics();
    process.stderr.write(`ovmf-pxe: script fetched ${run.ms} ms after start; ${JSON.stringify(t)}\n`);
  },
);

test(
  'a failure reason carrying "&& chain <url>" is shown by the wait script and never chained (SeaBIOS + iPXE ROM)',
  { skip, timeout: VM_LIMIT_MS + 30_000 },
  async () => {
    const mac = '52:54:00:4b:10:05';
    const evil = `http://10.79.1.1:${bed!.httpPort}/evil-chain.ipxe`;
    const auth = { authorization: `Bearer ${bed!.token}`, 'content-type': 'application/json' };
    const created = await fetch(`${bed!.api}/api/v1/hosts`, {
      method: 'POST',
      headers: auth,
      body: JSON.stringify({ name: 'evil-reason', nics: [{ mac }], state: 'ready' }),
      signal: AbortSignal.timeout(5000),
    });
    assert.equal(created.status, 201, await created.text());
    const failed = await fetch(`${bed!.api}/api/v1/hosts/evil-reason/state`, {
      method: 'POST',
      headers: auth,
      signal: AbortSignal.timeout(5000),
      body: JSON.stringify({ state: 'failed', reason: `disk error && chain --replace ${evil}` }),
    });
    assert.equal(failed.status, 200, await failed.text());
    const offset = bed!.log().length;
    // iPXE runs the script right after fetching it; an injected chain would come before the 10 s retry sleep ends.
    let servedAt = 0;
    const run = await runVm(
      bed!,
      'qemu-system-x86_64',
      [
        '-accel',
        'tcg',
        '-m',
        '512',
        '-display',
        'none',
        '-monitor',
        'none',
        '-no-reboot',
        '-serial',
        `file:${join(work, 'evil.serial.log')}`,
        '-netdev',
        `tap,id=n0,ifname=${BED_TAP},script=no,downscript=no`,
        '-boot',
        'n',
        '-device',
        `e1000,netdev=n0,mac=${mac}`,
      ],
      {
        serialPath: join(work, 'evil.serial.log'),
        limitMs: VM_LIMIT_MS,
        until: () => {
          if (!servedAt && logLines(offset).some((l) => l.msg === 'served per-host iPXE script' && l['mac'] === mac))
            servedAt = Date.now();
          return servedAt > 0 && Date.now() - servedAt > 4000;
        },
      },
    );
    const urls = logLines(offset)
      .map((l) => (l.msg === 'request' ? (l['url'] as string | undefined) : undefined))
      .filter(Boolean);
    assert.ok(!urls.some((u) => u!.includes('evil-chain')), `iPXE fetched the injected URL: ${urls.join(' ')}`);
    assert.ok(
      servedAt > 0,
      `the VM never fetched its script in ${run.ms} ms:\n${bed!.log().slice(offset).slice(-4000)}`,
    );
    const served = logLines(offset).filter((l) => l.msg === 'served per-host iPXE script' && l['mac'] === mac);
    assert.ok(served.every((l) => l['state'] === 'failed'));
    // What the VM was given (the boot.script event quotes the script's echo line): the reason as words of that echo.
    const events = await bootEvents(mac);
    assert.ok(
      events.some((e) =>
        /evil-reason failed: disk error '&&' chain --replace http:\S+evil-chain\.ipxe; fix it/.test(e.message),
      ),
      events.map((e) => e.message).join('\n'),
    );
  },
);

/** The timeline of `host` as the API gives it. */
interface VmTimeline {
  session: string;
  status: string;
  summary: string;
  firmware: string;
  stages: Array<{ stage: string; outcome: string; detail: string }>;
}
async function apiGet<T>(path: string): Promise<T> {
  const res = await fetch(`${bed!.api}/api/v1${path}`, {
    headers: { authorization: `Bearer ${bed!.token}` },
    signal: AbortSignal.timeout(5000),
  });
  assert.equal(res.status, 200, `GET ${path}: ${res.status}`);
  return (await res.json()) as T;
}
async function apiPost(path: string, body: unknown, status: number): Promise<void> {
  const res = await fetch(`${bed!.api}/api/v1${path}`, {
    method: 'POST',
    headers: { authorization: `Bearer ${bed!.token}`, 'content-type': 'application/json' },
    body: JSON.stringify(body),
    signal: AbortSignal.timeout(10_000),
  });
  assert.equal(res.status, status, `POST ${path}: ${await res.text()}`);
}

/**
 * Failure injection on a real VM (issue 13: one case per firmware kind): a ready host deployed with `vm-broken`,
 * whose kernel is not there. iPXE fetches the per-host install script, its `kernel` fails with 404, and the
 * timeline must say so by itself: stopped after ipxe-script, expected kernel, with the 404 as the last failure.
 */
async function bootToKernel404(name: string, mac: string, qemuArgs: string[]): Promise<VmTimeline> {
  await apiPost('/hosts', { name, nics: [{ mac }], state: 'ready' }, 201);
  await apiPost(`/hosts/${name}/deploy`, { profile: 'vm-broken' }, 200);
  const offset = bed!.log().length;
  let last: VmTimeline | undefined;
  const run = await runBedVm(name, qemuArgs, async () => {
    last = await apiGet<VmTimeline>(`/hosts/${name}/timeline`).catch(() => undefined);
    return last?.status === 'stalled';
  });
  assert.equal(
    last?.status,
    'stalled',
    `${name}: no stall within ${run.ms} ms; timeline ${JSON.stringify(last)}\n--- kiln log (tail)\n${bed!.log().slice(offset).slice(-4000)}`,
  );
  return last!;
}

function assertKernel404(t: VmTimeline, firmware: string): void {
  assert.match(
    t.summary,
    /^stopped after ipxe-script, expected kernel within 5 s \(last failure: kernel: \/images\/vm\/vmlinuz-missing: HTTP 404 \(not found\)\)$/,
    JSON.stringify(t),
  );
  assert.equal(t.firmware, firmware);
  const reached = [...new Set(t.stages.filter((s) => s.outcome === 'ok').map((s) => s.stage))];
  assert.deepEqual(reached, ['ipxe-dhcp', 'ipxe-script']);
}

async function assertStalledAtKernel(name: string, session: string): Promise<void> {
  const events = await apiGet<{
    items: Array<{ kind: string; data: { session?: string; after?: string; expected?: string } }>;
  }>(`/hosts/${name}/events?limit=500`);
  const stalls = events.items.filter((e) => e.kind === 'boot.stalled' && e.data.session === session);
  assert.ok(stalls.length >= 1, 'a boot.stalled event');
  assert.ok(
    stalls.every((e) => e.data.after === 'ipxe-script' && e.data.expected === 'kernel'),
    JSON.stringify(stalls),
  );
}

test(
  'failure injection, SeaBIOS + iPXE ROM: a deployed host whose kernel is missing — the timeline names the stage (stopped after ipxe-script, expected kernel, HTTP 404)',
  { skip, timeout: VM_LIMIT_MS + 30_000 },
  async () => {
    const t = await bootToKernel404('fail-bios', '52:54:00:4b:10:06', [
      '-boot',
      'n',
      '-device',
      'e1000,netdev=n0,mac=52:54:00:4b:10:06',
    ]);
    assertKernel404(t, 'ipxe');
    await assertStalledAtKernel('fail-bios', t.session);
  },
);

test(
  'failure injection, OVMF + iPXE EFI ROM: a deployed host whose kernel is missing — the timeline names the stage',
  { skip: skipEfi, timeout: VM_LIMIT_MS + 30_000 },
  async () => {
    const t = await bootToKernel404('fail-efi', '52:54:00:4b:10:07', [
      ...ovmfArgs('fail-efi'),
      '-device',
      'e1000,netdev=n0,mac=52:54:00:4b:10:07,bootindex=1',
    ]);
    assertKernel404(t, 'ipxe');
    await assertStalledAtKernel('fail-efi', t.session);
  },
);

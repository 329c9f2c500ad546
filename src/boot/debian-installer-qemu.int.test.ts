// debian-installer booted for real, reduced for CI (issue 18): a QEMU VM (TCG,
// SeaBIOS + iPXE ROM) network-boots from `kiln serve` in a namespace whose only
// server is Kiln (test/support/netboot-bed.ts, 10.49.0.0/16): DHCP, iPXE, the
// per-host script of a host deployed with the shipped debian-12 preseed
// profile, Debian's netboot kernel and the initrd carrying Kiln's repo keyring
// (published by `syncRepo` from a one-package fixture upstream named bookworm,
// test/support/fixture-archive.ts; the installer files are the installed
// debian-installer-12-netboot-amd64 package's). The VM runs until d-i fetched
// its preseed with the deployment's URL token and its syslogd's datagrams
// (log_host/log_port from the profile's command line) reached Kiln's receiver,
// then it is stopped. With KILN_DI_E2E=1 (scripts/di-install-e2e.sh) the same
// file makes the full install attempt instead: the real subset (`kiln repo
// sync` of the shipped profiles), a disk, and each d-i step printed with its
// time until the install ends or stops (the missing udebs, docs/repo.md).
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { canUseNetns } from '../../test/support/netns.js';
import { kilnBin, runKiln } from '../../test/support/serve-process.js';
import { fixtureArchive } from '../../test/support/fixture-archive.js';
import {
  BED_BRIDGE,
  BED_TAP,
  hasTool,
  runVm,
  startNetbootBed,
  type NetbootBed,
} from '../../test/support/netboot-bed.js';
import { syncRepo } from '../repo/sync-repo.js';

const DI_IMAGES = '/usr/lib/debian-installer/images';
const DI_INITRD = join(DI_IMAGES, '12/amd64/text/debian-installer/amd64/initrd.gz');
/** The full install attempt (scripts/di-install-e2e.sh) instead of the reduced test. */
const E2E = process.env['KILN_DI_E2E'] === '1';
const skip = !canUseNetns()
  ? 'needs root and iproute2 (network namespaces)'
  : !hasTool('qemu-system-x86_64')
    ? 'needs qemu-system-x86_64'
    : !existsSync('/usr/lib/ipxe/ipxe.pxe') && !existsSync('/usr/lib/ipxe/undionly.kpxe')
      ? "needs Debian's ipxe package (/usr/lib/ipxe)"
      : !existsSync(DI_INITRD)
        ? "needs Debian's debian-installer-12-netboot-amd64 package (scripts/install-debian-packages.sh)"
        : !hasTool('apt-ftparchive') || !hasTool('dpkg-deb')
          ? 'needs apt-utils and dpkg-deb (the fixture upstream archive)'
          : false;

/** Bound on the VM: d-i reached its preseed and syslog in ~? s under TCG here (see the diagnostic). */
const VM_LIMIT_MS = 150_000;
const MAC = '52:54:00:4b:49:01';
const HOST = 'di-node';

const work = mkdtempSync(join(tmpdir(), 'kiln-di-qemu-'));
let bed: NetbootBed | undefined;

before(async () => {
  if (skip) return;
  // The subset the installer is pointed at: bookworm with one package, signed by Kiln's repo key; the
  // installer files are Debian's netboot kernel and its initrd with Kiln's keyring appended.
  if (E2E) {
    // The real subset of the shipped profiles, from this machine's Debian mirror (minutes the first time).
    const t0 = Date.now();
    const sync = await runKiln(['repo', 'sync'], { KILN_DATA_DIR: join(work, 'data') }, 1_800_000);
    process.stderr.write(`repo sync: ${Math.round((Date.now() - t0) / 1000)} s, exit ${sync.code}\n${sync.stdout}\n`);
    assert.equal(sync.code, 0, sync.stderr);
    bed = await startNetbootBed({
      tag: 'di',
      net: 49,
      work,
      config: { syslog: { enabled: true } },
      // A name server in the lease: without one netcfg stops to ask for it (priority critical), before the
      // preseed. Kiln's own address: nothing answers DNS there, so lookups fail at once (the URLs are addresses).
      dns: ['10.49.1.1'],
    });
    return;
  }
  const f = await fixtureArchive(
    [{ root: 'debian', suite: 'bookworm', packages: [{ name: 'alpha', version: '1.0' }] }],
    'unused',
  );
  try {
    await syncRepo({
      dataDir: join(work, 'data'),
      profiles: [
        {
          name: 'debian-12',
          osVersion: '12',
          installMethod: 'preseed',
          packages: ['alpha'],
          repo: { upstream: `${f.url}/debian`, suite: 'bookworm', debArch: 'amd64', udebs: false },
        },
      ],
      upstreamKeyring: f.keyring,
      installerImages: DI_IMAGES,
    });
  } finally {
    await f.close();
  }
  bed = await startNetbootBed({
    tag: 'di',
    net: 49,
    work,
    config: { syslog: { enabled: true } },
    // A name server in the lease: without one netcfg stops to ask for it (priority critical), before the
    // preseed. Kiln's own address: nothing answers DNS there, so lookups fail at once (the URLs are addresses).
    dns: ['10.49.1.1'],
  });
});

after(async () => {
  await bed?.close();
  if (process.env['KILN_KEEP_NETBOOT_LOGS']) {
    writeFileSync(join(work, 'kiln.log'), bed?.log() ?? '');
    process.stderr.write(`debian-installer logs kept in ${work}\n`);
  } else rmSync(work, { recursive: true, force: true });
});

const kiln = (...args: string[]): string =>
  execFileSync(process.execPath, [kilnBin, '--server', bed!.api, '--token', bed!.token, ...args], {
    encoding: 'utf8',
    timeout: 30_000,
  });

async function get<T>(path: string): Promise<T> {
  const res = await fetch(`${bed!.api}/api/v1/${path}`, {
    headers: { authorization: `Bearer ${bed!.token}` },
    signal: AbortSignal.timeout(5000),
  });
  assert.equal(res.status, 200, `GET ${path}`);
  return (await res.json()) as T;
}

interface SyslogLine {
  app: string | null;
  text: string;
  severity: number;
}
interface TimelineStage {
  stage: string;
  outcome: string;
  detail: string;
}

/** The host's syslog lines (GET /hosts/{host}/logs, oldest first). */
const logsOf = async (limit: number): Promise<SyslogLine[]> =>
  (await get<{ items: SyslogLine[] }>(`hosts/${HOST}/logs?limit=${limit}`)).items;

/** Kiln's request log lines for the preseed fetched with a URL token (the token masked in the log). */
const preseedRequests = () =>
  bed!
    .logLines(0)
    .filter((l) =>
      /^\/api\/v1\/node\/install\/[^/]+\/preseed\.cfg$/.test(
        String(l.msg === 'request' ? (l['url'] as string | undefined) : undefined),
      ),
    );

test(
  'debian-installer netboots from Kiln (BIOS), fetches its preseed with the URL token and sends its syslog to Kiln',
  {
    skip: skip || (E2E ? 'KILN_DI_E2E=1: the full install attempt runs instead' : false),
    timeout: VM_LIMIT_MS + 60_000,
  },
  async (t) => {
    kiln('host', 'add', HOST, '--mac', MAC, '--ready');
    // console=ttyS0: d-i's console on the serial file, printed when the test fails.
    kiln('host', 'deploy', HOST, '--profile', 'debian-12', '--var', 'kernelArgs=console=ttyS0,115200n8');
    const serialPath = join(work, 'di.serial.log');
    mkdirSync(work, { recursive: true });
    // KILN_DI_CAPTURE_HEX=<file>: d-i's datagrams as they crossed the bridge, for the syslog goldens.
    const capture = process.env['KILN_DI_CAPTURE_HEX'];
    const pcap = join(work, 'di-syslog.pcap');
    const dump = capture ? bed!.spawn('tcpdump', ['-i', BED_BRIDGE, '-U', '-n', '-w', pcap, 'udp dst port 514']) : null;
    let lines: SyslogLine[] = [];
    const run = await runVm(
      bed!,
      'qemu-system-x86_64',
      [
        '-accel',
        'tcg',
        '-m',
        '1024',
        '-display',
        'none',
        '-monitor',
        'none',
        '-no-reboot',
        '-serial',
        `file:${serialPath}`,
        '-boot',
        'n',
        '-netdev',
        `tap,id=n0,ifname=${BED_TAP},script=no,downscript=no`,
        '-device',
        `e1000,netdev=n0,mac=${MAC}`,
      ],
      {
        serialPath,
        limitMs: VM_LIMIT_MS,
        until: async () => {
          if (preseedRequests().length === 0) return false;
          lines = await logsOf(1000).catch(() => lines);
          // Past the preseed: d-i's own lines about it (preseed's fetch is logged once the network is up).
          return lines.some((l) => /preseed/i.test(`${l.app} ${l.text}`));
        },
      },
    );
    const fail = (what: string) =>
      `${what} after ${run.ms} ms (qemu exit ${run.exit})\n--- qemu stderr\n${run.stderr}\n--- serial (tail)\n${run.serial.slice(-4000)}\n--- kiln log (tail)\n${bed!.log().slice(-6000)}`;
    t.diagnostic(`VM ran ${run.ms} ms`);

    // Kiln served the preseed to the deployment's URL token: 200 in its request log (token masked).
    const served = preseedRequests();
    assert.ok(served.length > 0, fail('no preseed request'));
    assert.ok(
      served.some((l) => l['status'] === 200),
      fail(`preseed not answered 200: ${JSON.stringify(served)}`),
    );
    // A 200 means the token resolved to this deployment from the address Kiln leased the host; the log has it masked.
    assert.ok(served.every((l) => l['url'] === '/api/v1/node/install/***/preseed.cfg'));

    // The host's timeline: the per-host script, then d-i's preseed fetched (install-plan), in one session.
    const timeline = await get<{ stages: TimelineStage[] }>(`hosts/${HOST}/timeline`);
    const reached = [...new Set(timeline.stages.filter((s) => s.outcome === 'ok').map((s) => s.stage))];
    t.diagnostic(`timeline: ${reached.join(', ')}`);
    assert.ok(reached.includes('ipxe-script'), JSON.stringify(timeline.stages));
    assert.ok(
      timeline.stages.some(
        (s) => s.stage === 'install-plan' && s.outcome === 'ok' && s.detail === 'preseed.cfg fetched',
      ),
      JSON.stringify(timeline.stages),
    );

    // d-i's syslogd reached Kiln's receiver and the lines are the host's (attributed by its DHCP lease).
    lines = await logsOf(1000);
    const apps = [...new Set(lines.map((l) => l.app))];
    t.diagnostic(`${lines.length} syslog lines from d-i, apps: ${apps.join(', ')}`);
    assert.ok(lines.length > 0, fail('no syslog line for the host'));
    assert.ok(
      lines.some((l) => /preseed/i.test(`${l.app} ${l.text}`)),
      fail(`no preseed line in d-i's syslog: ${JSON.stringify(lines.slice(-20))}`),
    );
    // `kiln host logs` shows them too.
    assert.match(kiln('host', 'logs', HOST), /preseed/i);
    writeFileSync(join(work, 'di-syslog.json'), JSON.stringify(lines, null, 1));
    if (capture && dump) {
      dump.kill('SIGINT');
      await new Promise((r) => (dump.exitCode !== null ? r(null) : dump.once('exit', r)));
      const datagrams = udpPayloads(readFileSync(pcap)).filter((d) => !/node\/install|kit_/.test(d.toString('latin1')));
      writeFileSync(
        capture,
        datagrams
          .slice(0, 12)
          .map((d) => `udp ${d.toString('hex')}\n`)
          .join(''),
      );
      t.diagnostic(`${Math.min(12, datagrams.length)} of ${datagrams.length} datagrams written to ${capture}`);
    }
  },
);

/** The UDP payloads of a pcap file (Ethernet, IPv4), in order. Pure. */
function udpPayloads(file: Buffer): Buffer[] {
  const out: Buffer[] = [];
  let off = 24;
  while (off + 16 <= file.length) {
    const len = file.readUInt32LE(off + 8);
    const frame = file.subarray(off + 16, off + 16 + len);
    off += 16 + len;
    if (frame.length < 42 || frame.readUInt16BE(12) !== 0x0800 || frame[23] !== 17) continue;
    const udp = 14 + (frame[14]! & 0x0f) * 4;
    out.push(Buffer.from(frame.subarray(udp + 8, udp + frame.readUInt16BE(udp + 4))));
  }
  return out;
}

/** Bounds of the full attempt: the whole run, and silence (no new d-i syslog line) that ends it. */
const E2E_LIMIT_MS = 60 * 60_000;
const E2E_SILENCE_MS = 5 * 60_000;

test(
  'debian-installer full install attempt from the repo subset, each step timed (scripts/di-install-e2e.sh)',
  {
    skip: skip || (E2E ? false : 'the full install attempt: scripts/di-install-e2e.sh'),
    timeout: E2E_LIMIT_MS + 60_000,
  },
  async () => {
    kiln('host', 'add', HOST, '--mac', MAC, '--ready');
    kiln('host', 'deploy', HOST, '--profile', 'debian-12', '--var', 'kernelArgs=console=ttyS0,115200n8');
    const disk = join(work, 'disk.qcow2');
    execFileSync('qemu-img', ['create', '-f', 'qcow2', disk, '10G'], { stdio: 'ignore' });
    const serialPath = join(work, 'di.serial.log');
    const started = Date.now();
    const secs = () => ((Date.now() - started) / 1000).toFixed(0).padStart(5);
    let seen = 0;
    let lastLine = Date.now();
    let lines: SyslogLine[] = [];
    let state = 'deploying';
    const stepOf = (l: SyslogLine) => /Menu item '([^']+)' selected/.exec(l.text)?.[1];
    const trouble =
      /Failed to load installer component|couldn't download|bad archive mirror|No such file|404 Not Found|gpgv/i;
    const run = await runVm(
      bed!,
      'qemu-system-x86_64',
      [
        '-accel',
        process.env['KILN_QEMU_ACCEL'] ?? 'tcg',
        '-m',
        '1024',
        '-display',
        'none',
        '-monitor',
        'none',
        '-no-reboot',
        '-serial',
        `file:${serialPath}`,
        '-boot',
        'n',
        '-drive',
        `file=${disk},if=virtio,format=qcow2`,
        '-netdev',
        `tap,id=n0,ifname=${BED_TAP},script=no,downscript=no`,
        '-device',
        `e1000,netdev=n0,mac=${MAC}`,
      ],
      {
        serialPath,
        limitMs: E2E_LIMIT_MS,
        until: async () => {
          if (preseedRequests().length > 0 && seen === 0) process.stderr.write(`${secs()} s  preseed fetched\n`);
          lines = await logsOf(5000).catch(() => lines);
          for (const l of lines.slice(seen)) {
            const step = stepOf(l);
            if (step) process.stderr.write(`${secs()} s  step ${step}\n`);
            else if (trouble.test(l.text)) process.stderr.write(`${secs()} s  ${l.app}: ${l.text}\n`);
          }
          if (lines.length > seen) lastLine = Date.now();
          seen = lines.length;
          state = (await get<{ state: string }>(`hosts/${HOST}`).catch(() => ({ state }))).state;
          return state !== 'deploying' || Date.now() - lastLine > E2E_SILENCE_MS;
        },
      },
    );
    writeFileSync(join(work, 'di-syslog.json'), JSON.stringify(lines, null, 1));
    const last = [...lines].reverse().find((l) => stepOf(l));
    const problems = lines.filter((l) => trouble.test(l.text));
    process.stderr.write(
      [
        `--- after ${Math.round(run.ms / 1000)} s: host ${state}; ${lines.length} d-i syslog lines; last step ${last ? stepOf(last) : 'none'}`,
        state === 'deploying'
          ? `--- THE INSTALL DID NOT FINISH: d-i was silent for ${E2E_SILENCE_MS / 60_000} min or the run hit ${E2E_LIMIT_MS / 60_000} min` +
            (problems.length
              ? `; what d-i reported:\n${problems
                  .slice(-15)
                  .map((l) => `    ${l.app}: ${l.text}`)
                  .join('\n')}`
              : '')
          : '--- the install reached Kiln again',
        `--- serial (tail)\n${run.serial.slice(-3000)}`,
      ].join('\n') + '\n',
    );
    assert.ok(preseedRequests().length > 0, 'd-i fetched its preseed');
  },
);

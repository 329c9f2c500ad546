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
// then it is stopped: the full install is scripts/di-install-e2e.sh.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { canUseNetns } from '../../test/support/netns.js';
import { kilnBin } from '../../test/support/serve-process.js';
import { fixtureArchive } from '../../test/support/fixture-archive.js';
import { BED_TAP, hasTool, runVm, startNetbootBed, type NetbootBed } from '../../test/support/netboot-bed.js';
import { syncRepo } from '../repo/sync-repo.js';

const DI_IMAGES = '/usr/lib/debian-installer/images';
const DI_INITRD = join(DI_IMAGES, '12/amd64/text/debian-installer/amd64/initrd.gz');
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
  bed = await startNetbootBed({ tag: 'di', net: 49, work, config: { syslog: { enabled: true } } });
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

/** Kiln's request log lines for the preseed fetched with a URL token (the token masked in the log). */
const preseedRequests = () =>
  bed!
    .logLines(0)
    .filter((l) =>
      /^\/api\/v1\/node\/install\/[^/]+\/preseed\.cfg$/.test(String((l['req'] as { url?: string } | undefined)?.url)),
    );

test(
  'debian-installer netboots from Kiln (BIOS), fetches its preseed with the URL token and sends its syslog to Kiln',
  { skip, timeout: VM_LIMIT_MS + 60_000 },
  async (t) => {
    kiln('host', 'add', HOST, '--mac', MAC, '--ready');
    // console=ttyS0: d-i's console on the serial file, printed when the test fails.
    kiln('host', 'deploy', HOST, '--profile', 'debian-12', '--var', 'kernelArgs=console=ttyS0,115200n8');
    const serialPath = join(work, 'di.serial.log');
    mkdirSync(work, { recursive: true });
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
          lines = await get<SyslogLine[]>(`hosts/${HOST}/logs?limit=1000`).catch(() => lines);
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
    const reqIds = new Set(served.map((l) => l['reqId']));
    const answered = bed!
      .logLines(0)
      .filter((l) => reqIds.has(l['reqId']) && (l['res'] as { statusCode?: number } | undefined)?.statusCode);
    assert.ok(
      answered.some((l) => (l['res'] as { statusCode: number }).statusCode === 200),
      fail(`preseed not answered 200: ${JSON.stringify(answered)}`),
    );
    // A 200 means the token resolved to this deployment from the address Kiln leased the host; the log has it masked.
    assert.ok(served.every((l) => (l['req'] as { url: string }).url === '/api/v1/node/install/***/preseed.cfg'));

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
    lines = await get<SyslogLine[]>(`hosts/${HOST}/logs?limit=1000`);
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
  },
);

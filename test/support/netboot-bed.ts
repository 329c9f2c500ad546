// Test support: the network-boot test bed shared by the QEMU firmware tests.
// One namespace per test file holds a bridge `kbr0` (10.<net>.1.1/24) with a
// tap `ktap0` for QEMU, and `kiln serve` (DHCP full mode, TFTP, HTTP boot)
// inside it. The test reads the API from the root end of the namespace's veth
// pair (10.<net>.0.0/24). Nothing leaves the namespace: limited broadcasts
// leave by the bridge.
// With `siteDhcp`, Kiln is in proxy mode and dnsmasq, in a second namespace
// on the bridge, is the site's DHCP server.
import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { createNetns, type TestNetns } from './netns.js';
import { killChild, stopChild } from './process.js';
import { kilnBin } from './serve-process.js';

const repo = fileURLToPath(new URL('../..', import.meta.url));

/** The bridge and the tap every VM of the bed attaches to. */
export const BED_BRIDGE = 'kbr0';
export const BED_TAP = 'ktap0';

/** True when `cmd` is on PATH (for skip reasons). */
export function hasTool(cmd: string): boolean {
  try {
    execFileSync('sh', ['-c', `command -v ${cmd}`], { stdio: 'ignore' });
    return true;
  } catch {
    return false;
  }
}

/** Settings of one bed. `net` picks 10.<net>.0.0/24 (veth) and 10.<net>.1.0/24 (bridge); each test file uses its own. */
export interface NetbootBedOptions {
  /** Namespace tag (a few letters). */
  tag: string;
  net: number;
  /** Scratch directory the caller owns and removes: config, data dir. */
  work: string;
  /** `--ipxe-dir` (TFTP root and `/ipxe/` HTTP files); Kiln's default (/usr/lib/ipxe) when absent. */
  ipxeDir?: string;
  /** Extra keys of the `dhcp` section (e.g. `bootFiles`). */
  dhcp?: Record<string, unknown>;
  /** Bound on Kiln's start; default 60 s. */
  startMs?: number;
  /** Extra `kiln serve` flags. */
  serveArgs?: string[];
  /** Extra top-level sections of the config file (e.g. `timeline`). */
  config?: Record<string, unknown>;
  /**
   * Proxy mode beside a site DHCP server: Kiln's subnet is `mode: proxy` (no
   * pools), and dnsmasq, a plain DHCP server (a range, no boot options), runs
   * in a second namespace `site` joined to the bridge at 10.<net>.1.2 and
   * hands out 10.<net>.1.100–150.
   */
  siteDhcp?: boolean;
  /** DNS servers Kiln's DHCP hands out (full mode); none by default. debian-installer stops to ask for one without. */
  dns?: string[];
}

/** One parsed pino line of Kiln's log. */
export type LogLine = Record<string, unknown> & { time: number; msg: string };

/** A `boot.script` event as the API returns it. */
export interface BootEvent {
  seq: number;
  at: string;
  message: string;
  data: { mac: string; platform: string; arch: string; uuid: string | null; state: string };
}

/** A running bed; `close()` stops Kiln and every VM by PID and removes the namespace. */
export interface NetbootBed {
  ns: TestNetns;
  /** Kiln's address on the bridge (DHCP server, TFTP, HTTP boot). */
  server: string;
  httpPort: number;
  /** API base URL, reached from the root namespace. */
  api: string;
  token: string;
  /** Kiln's whole log so far (stdout and stderr). */
  log(): string;
  /** Parsed log lines from character `offset` of `log()` on. */
  logLines(offset: number): LogLine[];
  bootEvents(mac: string): Promise<BootEvent[]>;
  /** Starts a process in the namespace that `close()` kills if it still runs. */
  spawn(cmd: string, args: string[]): ChildProcess;
  /** With `siteDhcp`: the site DHCP server's address on the bridge and its log so far. */
  site?: { address: string; log(): string };
  close(): Promise<void>;
}

/** The site DHCP server's address on the bridge (with `siteDhcp`). */
export const siteDhcpAddress = (net: number): string => `10.${net}.1.2`;

/** Creates the namespace, bridge and tap, starts `kiln serve` in it, and waits (bounded) for its API and DHCP. */
export async function startNetbootBed(o: NetbootBedOptions): Promise<NetbootBed> {
  const server = `10.${o.net}.1.1`;
  const httpPort = 8080;
  const ns = createNetns(o.tag, `10.${o.net}.0.254/24`, `10.${o.net}.0.1/24`);
  const procs: ChildProcess[] = [];
  let serve: ChildProcess | undefined;
  let log = '';
  let site: { ns: string; dnsmasq?: ChildProcess; log: string } | undefined;
  const close = async (): Promise<void> => {
    for (const p of procs) killChild(p);
    await stopChild(serve);
    await stopChild(site?.dnsmasq, 5000);
    if (site) {
      try {
        execFileSync('ip', ['netns', 'del', site.ns], { stdio: 'ignore' });
      } catch {
        /* already gone */
      }
    }
    ns.remove();
  };
  try {
    const x = (...args: string[]) => ns.exec('ip', args);
    // forward_delay 0: the tap port forwards as soon as QEMU opens it (no STP here).
    x('link', 'add', BED_BRIDGE, 'type', 'bridge', 'forward_delay', '0');
    x('addr', 'add', `${server}/24`, 'dev', BED_BRIDGE);
    x('link', 'set', BED_BRIDGE, 'up');
    x('tuntap', 'add', 'dev', BED_TAP, 'mode', 'tap');
    x('link', 'set', BED_TAP, 'master', BED_BRIDGE);
    x('link', 'set', BED_TAP, 'up');
    // Limited broadcasts (DHCP replies to 255.255.255.255) leave by the bridge, inside the namespace only.
    x('route', 'add', 'default', 'dev', BED_BRIDGE);

    if (o.siteDhcp) site = startSiteDhcp(ns, o);

    const cfg = join(o.work, 'kiln.yaml');
    const subnet = o.siteDhcp
      ? { cidr: `10.${o.net}.1.0/24`, mode: 'proxy', pools: [], dns: [], attached: true }
      : {
          cidr: `10.${o.net}.1.0/24`,
          mode: 'full',
          pools: [{ start: `10.${o.net}.1.100`, end: `10.${o.net}.1.150` }],
          router: server,
          dns: o.dns ?? [],
          leaseSeconds: 600,
          attached: true,
        };
    writeFileSync(
      cfg,
      JSON.stringify({
        dhcp: {
          enabled: true,
          serverAddress: server,
          httpBase: `http://${server}:${httpPort}`,
          subnets: [subnet],
          // Answer iPXE's router solicitations (lifetime 0, no prefix): no ~15 s IPv6 wait (docs/booting.md).
          routerAdvertisements: { interfaces: [BED_BRIDGE] },
          ...o.dhcp,
        },
        ...o.config,
      }),
    );
    const dataDir = join(o.work, 'data');
    serve = ns.spawn(
      process.execPath,
      [
        kilnBin,
        'serve',
        '--config',
        cfg,
        '--data-dir',
        dataDir,
        '--listen',
        `0.0.0.0:${httpPort}`,
        '--tls-listen',
        '',
        '--public-url',
        `http://${server}:${httpPort}`,
        '--node-image',
        'off',
        '--power-poll-interval',
        '0',
        '--log-level',
        'debug',
        ...(o.ipxeDir ? ['--ipxe-dir', o.ipxeDir] : []),
        ...(o.serveArgs ?? []),
      ],
      { cwd: repo, stdio: ['ignore', 'pipe', 'pipe'] },
    );
    serve.stdout!.on('data', (d) => {
      log += d;
    });
    serve.stderr!.on('data', (d) => {
      log += d;
    });
    const api = `http://10.${o.net}.0.1:${httpPort}`;
    const limit = o.startMs ?? 60_000;
    const deadline = Date.now() + limit;
    for (;;) {
      if (serve.exitCode !== null) throw new Error(`kiln serve exited early:\n${log}`);
      if (Date.now() > deadline) throw new Error(`kiln serve did not answer within ${limit} ms:\n${log}`);
      try {
        if ((await fetch(`${api}/api/v1/health`, { signal: AbortSignal.timeout(1000) })).ok && /DHCP serving/.test(log))
          break;
      } catch {
        /* not up yet */
      }
      await new Promise((r) => setTimeout(r, 250));
    }
    const token = readFileSync(join(dataDir, 'admin-token'), 'utf8').trim();
    const logLines = (offset: number): LogLine[] =>
      log
        .slice(offset)
        .split('\n')
        .flatMap((l) => {
          try {
            return [JSON.parse(l) as LogLine];
          } catch {
            return [];
          }
        });
    const bootEvents = async (mac: string): Promise<BootEvent[]> => {
      const res = await fetch(`${api}/api/v1/events?kind=boot.script&limit=1000`, {
        headers: { authorization: `Bearer ${token}` },
        signal: AbortSignal.timeout(5000),
      });
      if (res.status !== 200) throw new Error(`GET /events: ${res.status}`);
      return ((await res.json()) as { items: BootEvent[] }).items.filter((e) => e.data?.mac === mac);
    };
    const spawn = (cmd: string, args: string[]): ChildProcess => {
      const p = ns.spawn(cmd, args, { stdio: ['ignore', 'ignore', 'pipe'] });
      procs.push(p);
      return p;
    };
    const siteInfo = site ? { address: siteDhcpAddress(o.net), log: () => site!.log } : undefined;
    return {
      ns,
      server,
      httpPort,
      api,
      token,
      log: () => log,
      logLines,
      bootEvents,
      spawn,
      ...(siteInfo ? { site: siteInfo } : {}),
      close,
    };
  } catch (err) {
    await close();
    throw err;
  }
}

/**
 * The site's own DHCP server for a proxy-mode bed: namespace `kts<tag><pid>`
 * with one end of a veth pair, the other end a port of the bed's bridge;
 * dnsmasq there serves a range and nothing else (no dhcp-boot, no
 * pxe-service, DNS off), as a network Kiln does not own would.
 */
function startSiteDhcp(bed: TestNetns, o: NetbootBedOptions): { ns: string; dnsmasq?: ChildProcess; log: string } {
  const site = { ns: `kts${o.tag}${process.pid % 100000}`, log: '' } as {
    ns: string;
    dnsmasq?: ChildProcess;
    log: string;
  };
  execFileSync('ip', ['netns', 'add', site.ns], { stdio: 'ignore' });
  const x = (...args: string[]) => bed.exec('ip', args);
  x('link', 'add', 'ksite0', 'type', 'veth', 'peer', 'name', 'ksite1');
  x('link', 'set', 'ksite1', 'netns', site.ns);
  x('link', 'set', 'ksite0', 'master', BED_BRIDGE);
  x('link', 'set', 'ksite0', 'up');
  const s = (...args: string[]) => execFileSync('ip', ['-n', site.ns, ...args], { stdio: 'ignore' });
  s('link', 'set', 'lo', 'up');
  s('addr', 'add', `${siteDhcpAddress(o.net)}/24`, 'dev', 'ksite1');
  s('link', 'set', 'ksite1', 'up');
  site.dnsmasq = spawn(
    'ip',
    [
      'netns',
      'exec',
      site.ns,
      'dnsmasq',
      '--no-daemon',
      '--conf-file=/dev/null',
      '--port=0',
      '--user=root',
      '--interface=ksite1',
      '--bind-interfaces',
      '--log-dhcp',
      `--dhcp-range=10.${o.net}.1.100,10.${o.net}.1.150,10m`,
      `--dhcp-leasefile=${join(o.work, 'site-dhcp.leases')}`,
      '--dhcp-authoritative',
    ],
    { stdio: ['ignore', 'pipe', 'pipe'] },
  );
  site.dnsmasq.stdout!.on('data', (d) => {
    site.log += d;
  });
  site.dnsmasq.stderr!.on('data', (d) => {
    site.log += d;
  });
  return site;
}

/** What one VM run left behind. */
export interface VmRun {
  ms: number;
  serial: string;
  stderr: string;
  exit: number | string | null;
}

/**
 * Runs one QEMU VM in the bed until `until()` is true (polled once a second),
 * QEMU exits, or `limitMs` passes; then stops it by PID. `serialPath` is the
 * file QEMU's `-serial file:` writes, read back for the result.
 */
export async function runVm(
  bed: NetbootBed,
  cmd: string,
  args: string[],
  o: { serialPath: string; limitMs: number; until: () => Promise<boolean> | boolean },
): Promise<VmRun> {
  const started = Date.now();
  const vm = bed.spawn(cmd, args);
  let stderr = '';
  vm.stderr!.on('data', (d) => {
    stderr += d;
  });
  try {
    while (Date.now() - started < o.limitMs) {
      if (vm.exitCode !== null) break;
      if (await o.until()) break;
      await new Promise((r) => setTimeout(r, 1000));
    }
  } finally {
    await stopChild(vm, 5000);
  }
  const serial = existsSync(o.serialPath) ? readFileSync(o.serialPath, 'latin1') : '';
  return { ms: Date.now() - started, serial, stderr, exit: vm.exitCode ?? vm.signalCode };
}

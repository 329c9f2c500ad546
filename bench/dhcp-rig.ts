// The DHCPv4 bench rig shared by bench/dhcp.bench.ts (relayed, returning
// clients) and bench/dhcp-fresh.bench.ts (fresh clients, direct broadcast,
// pinned server, rate search): a fresh network namespace per run, Kiln
// (bench/dhcp-server-process.ts, SQLite file), kea-dhcp4 (memfile) and
// dnsmasq started in it, one perfdhcp run against each, and the server's own
// CPU time and bytes written (proc(5) stat and io) over the run.
// Durability differs: Kiln's ACK leaves only after its lease is committed to
// SQLite with synchronous=FULL (fsynced; group commit); Kea's memfile appends
// to its CSV without fsync, and dnsmasq rewrites its lease file without fsync,
// so both can lose ACKed leases at power loss.
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { createNetns, type TestNetns } from '../test/support/netns.js';
import { defaultDhcpConfig, type DhcpConfig, type DhcpSubnet } from '../src/boot/dhcp/dhcp-config.js';

/** How the clients reach the server. */
export interface RigShape {
  /** `direct`: broadcast on the server's own link (perfdhcp -B); `relayed`: perfdhcp acts as a relay at `relay` (unicast to port 67). */
  mode: 'direct' | 'relayed';
  /** The served subnet, its pool, the server's and the load generator's addresses (prefix lengths included). */
  subnet: string;
  pool: { start: string; end: string };
  server: string;
  serverPrefix: number;
  client: string;
  clientPrefix: number;
  /** relayed only: the relay address perfdhcp sends from (giaddr), inside `subnet`. */
  relay?: string;
  leaseSeconds: number;
  /** Pin the server to core 0 and perfdhcp to core 1 (taskset), both at `nice`. */
  pinned: boolean;
  nice: string;
  /** A command the server runs under, e.g. valgrind with its options (bench/dhcp-cpu.bench.ts); after the pin. */
  wrap?: string[];
  /** How long a server may take to start (ms; default 30 000 for Kiln's "ready", a fixed 2 500 wait for Kea). */
  startMs?: number;
}

/** What one perfdhcp run measured. */
export interface RunResult {
  server: string;
  offered: number;
  seconds: number;
  discovers: number;
  offers: number;
  requests: number;
  acks: number;
  /** DISCOVERs without OFFER plus REQUESTs without ACK. */
  drops: number;
  /** Four-way loss: the share of DISCOVERs sent that did not end in an ACK. */
  loss: number;
  offerMs: [number, number];
  ackMs: [number, number];
  /** Server CPU seconds (all threads) and bytes it wrote (write_bytes) during the run. */
  cpu: number;
  writtenBytes: number;
  /** perfdhcp's own figure (4-way exchanges per second). */
  rate: number;
  /** Each completed DISCOVER→OFFER: seconds since perfdhcp's first DISCOVER was sent, and the delay (ms). */
  offerTimeline: Array<[number, number]>;
}

/** A server under test: starts it inside `ns` with its lease store under `work`. */
export type ServerStart = (ns: TestNetns, rig: RigShape, work: string) => Promise<ChildProcess>;

/** CPU seconds (user + system, all threads) of `pid` so far (proc(5) stat fields 14 and 15, ticks of 1/100 s). */
export function cpuSeconds(pid: number | undefined): number {
  try {
    const f = readFileSync(`/proc/${pid}/stat`, 'utf8');
    const rest = f.slice(f.lastIndexOf(')') + 2).split(' ');
    return (Number(rest[11]) + Number(rest[12])) / 100;
  } catch {
    return NaN;
  }
}

/** Bytes `pid` caused to be written to storage so far (proc(5) io: write_bytes). */
export function writtenBytes(pid: number | undefined): number {
  try {
    return Number(/write_bytes: (\d+)/.exec(readFileSync(`/proc/${pid}/io`, 'utf8'))?.[1] ?? NaN);
  } catch {
    return NaN;
  }
}

/** UDP counters of /proc/net/snmp in `ns` (or the root namespace). */
export function udpCounters(ns?: TestNetns): Record<string, number> {
  const snmp = ns ? ns.exec('cat', ['/proc/net/snmp']) : readFileSync('/proc/net/snmp', 'utf8');
  const [head, vals] = snmp.split('\n').filter((l) => l.startsWith('Udp:'));
  const h = head!.split(' '),
    v = vals!.split(' ');
  return Object.fromEntries(h.slice(1).map((k, i) => [k, Number(v[i + 1])]));
}
const udpDelta = (a: Record<string, number>, b: Record<string, number>): string =>
  ['InDatagrams', 'OutDatagrams', 'RcvbufErrors', 'SndbufErrors', 'InErrors']
    .map((k) => `${k} ${b[k]! - a[k]!}`)
    .join(', ');

export const pct = (xs: number[], p: number): number => {
  if (!xs.length) return NaN;
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.floor((p / 100) * s.length))]!;
};

export const median = (xs: number[]): number => {
  const s = [...xs].sort((a, b) => a - b);
  return s.length % 2 ? s[(s.length - 1) / 2]! : (s[s.length / 2 - 1]! + s[s.length / 2]!) / 2;
};

/** Send time (s, perfdhcp's clock) and latency (ms) of each exchange in perfdhcp's `-x t` section `name` ("sent / received: S / R"). */
function exchanges(out: string, name: string): Array<[number, number]> {
  const header = `***Timestamps for packets: ${name}***`;
  const start = out.indexOf(header);
  if (start < 0) return [];
  const end = out.indexOf('***', start + header.length);
  const xs: Array<[number, number]> = [];
  for (const m of out.slice(start, end < 0 ? undefined : end).matchAll(/sent \/ received: ([\d.]+) \/ ([\d.]+)/g))
    xs.push([Number(m[1]), (Number(m[2]) - Number(m[1])) * 1000]);
  return xs;
}

/** perfdhcp's counts and latencies from its report `out`. */
export function parsePerfdhcp(out: string): Omit<RunResult, 'server' | 'offered' | 'seconds' | 'cpu' | 'writtenBytes'> {
  const cut = out.indexOf('***Timestamps');
  const report = cut < 0 ? out : out.slice(0, cut);
  const num = (re: RegExp) => Number(re.exec(report)?.[1] ?? NaN);
  const discovers = num(/DISCOVER-OFFER\*+\s+sent packets: (\d+)/);
  const offers = num(/DISCOVER-OFFER\*+\s+sent packets: \d+\s+received packets: (\d+)/);
  const requests = num(/REQUEST-ACK\*+\s+sent packets: (\d+)/);
  const acks = num(/REQUEST-ACK\*+\s+sent packets: \d+\s+received packets: (\d+)/);
  const ox = exchanges(out, 'DISCOVER-OFFER');
  const first = ox.reduce((t, [s]) => Math.min(t, s), Infinity);
  const o = ox.map(([, ms]) => ms);
  const a = exchanges(out, 'REQUEST-ACK').map(([, ms]) => ms);
  return {
    discovers,
    offers,
    requests,
    acks,
    drops: discovers - offers + (requests - acks),
    loss: discovers > 0 ? (discovers - acks) / discovers : NaN,
    offerMs: [pct(o, 50), pct(o, 99)],
    ackMs: [pct(a, 50), pct(a, 99)],
    rate: num(/Rate: ([\d.]+) 4-way exchanges\/second/),
    offerTimeline: ox.map(([sent, ms]) => [sent - first, ms]),
  };
}

/**
 * One perfdhcp run at `offered` exchanges/s for `seconds`. `macs`: how many
 * distinct client MACs (-R; 16 000 000 makes every client new). With `-B`
 * and a fresh client per exchange, perfdhcp receives every reply on one
 * socket with the system's default receive buffer (about 208 KiB), which a
 * group commit's burst of ACKs overflows (perfdhcp's own RcvbufErrors, not
 * the server's): net.core.rmem_default is raised to 4 MiB for the half second
 * in which perfdhcp opens its socket, and put back.
 */
export async function perfdhcp(
  ns: TestNetns,
  rig: RigShape,
  offered: number,
  seconds: number,
  macs: number,
  verbose: boolean,
): Promise<ReturnType<typeof parsePerfdhcp>> {
  const rmemDefault = readFileSync('/proc/sys/net/core/rmem_default', 'utf8').trim();
  const base = ['perfdhcp', '-4', '-r', String(offered), '-p', String(seconds), '-W', '1000000', '-R', String(macs)];
  const target =
    rig.mode === 'direct' ? ['-g', 'single', '-l', ns.hostIf, '-B', '-x', 't'] : ['-l', rig.relay!, rig.server];
  const cmd = rig.pinned ? ['nice', '-n', rig.nice, 'taskset', '-c', '1', ...base, ...target] : [...base, ...target];
  writeFileSync('/proc/sys/net/core/rmem_default', String(4 * 1024 * 1024));
  let out = '';
  try {
    const p = spawn(cmd[0]!, cmd.slice(1), { stdio: ['ignore', 'pipe', 'ignore'] });
    const chunks: Buffer[] = [];
    p.stdout.on('data', (d: Buffer) => chunks.push(d));
    const exited = new Promise<void>((r) => p.once('exit', () => r()));
    await new Promise((r) => setTimeout(r, 500));
    writeFileSync('/proc/sys/net/core/rmem_default', rmemDefault);
    const killer = setTimeout(() => p.kill('SIGKILL'), (seconds + 30) * 1000);
    await exited; // perfdhcp exits 3 when packets were dropped
    clearTimeout(killer);
    out = Buffer.concat(chunks).toString('utf8');
  } finally {
    writeFileSync('/proc/sys/net/core/rmem_default', rmemDefault);
  }
  if (verbose) process.stderr.write(out.slice(0, Math.max(0, out.indexOf('***Timestamps'))) || out);
  return parsePerfdhcp(out);
}

export async function waitReady(
  p: ChildProcess,
  what: RegExp | number,
  label: string,
  timeoutMs = 30_000,
): Promise<void> {
  if (typeof what === 'number') return new Promise((r) => setTimeout(r, what));
  await new Promise<void>((resolve, reject) => {
    const t = setTimeout(() => reject(new Error(`${label} did not start`)), timeoutMs);
    p.stdout!.on('data', (d) => {
      if (what.test(String(d))) {
        clearTimeout(t);
        resolve();
      }
    });
    p.on('exit', (c) => {
      clearTimeout(t);
      reject(new Error(`${label} exited ${c}`));
    });
  });
}

/** SIGTERM to the child by PID, SIGKILL after `graceMs` (10 s). */
export function stop(p: ChildProcess, graceMs = 10_000): Promise<void> {
  if (p.exitCode !== null || !p.pid) return Promise.resolve();
  const done = new Promise<void>((r) => p.once('exit', () => r()));
  process.kill(p.pid, 'SIGTERM');
  let timer: NodeJS.Timeout | undefined;
  return Promise.race([
    done,
    new Promise<void>((r) => {
      timer = setTimeout(() => {
        try {
          process.kill(p.pid!, 'SIGKILL');
        } catch {
          /* gone */
        }
        r();
      }, graceMs);
    }),
  ]).finally(() => clearTimeout(timer)); // the bench exits as soon as it is done, not after the grace time
}

/** Runs `cmd` inside `ns`, pinned to core 0 at the rig's nice value when it is pinned (ip netns exec and taskset exec it: the child's PID is the server's). */
function inNs(ns: TestNetns, rig: RigShape, cmd: string, args: string[], env?: NodeJS.ProcessEnv, cwd?: string) {
  const pin = rig.pinned ? ['nice', '-n', rig.nice, 'taskset', '-c', '0'] : [];
  return spawn('ip', ['netns', 'exec', ns.name, ...pin, ...(rig.wrap ?? []), cmd, ...args], {
    stdio: ['ignore', 'pipe', 'inherit'],
    env: env ?? process.env,
    cwd,
  });
}

/** Kiln's DHCP server from the checkout at `tree` (default: this one); `nodeFlags` go to its Node, `cpuProf` is a directory for its CPU profile. */
export const kilnServer =
  (
    o: { tree?: string; nodeFlags?: string[]; cpuProf?: string; verbose?: boolean; dhcp?: Partial<DhcpConfig> } = {},
  ): ServerStart =>
  async (ns, rig, work) => {
    const served: DhcpSubnet = {
      cidr: rig.subnet,
      mode: 'full',
      pools: [rig.pool],
      dns: [],
      leaseSeconds: rig.leaseSeconds,
      attached: rig.mode === 'direct',
      ...(rig.mode === 'relayed' ? { relayed: true, router: rig.relay } : {}),
    };
    const subnets: DhcpSubnet[] =
      rig.mode === 'relayed'
        ? [
            {
              cidr: `${rig.server}/${rig.serverPrefix}`.replace(/\.\d+\//, '.0/'),
              mode: 'full',
              pools: [],
              dns: [],
              leaseSeconds: rig.leaseSeconds,
              attached: true,
            },
            served,
          ]
        : [served];
    const cfg: DhcpConfig = {
      ...defaultDhcpConfig,
      enabled: true,
      serverAddress: rig.server,
      httpBase: `http://${rig.server}:8080`,
      subnets,
      ...o.dhcp,
    };
    writeFileSync(join(work, 'kiln.json'), JSON.stringify({ dhcp: cfg }));
    // The compiled server, as `kiln serve` runs (npm run build first): from source through tsx, its loader
    // thread and on-the-fly compilation shared the pinned core with the server in the first second of each run.
    const compiled = 'dist/bench/dhcp-server-process.js';
    const fromDist = existsSync(join(o.tree ?? process.cwd(), compiled));
    if (!fromDist) process.stderr.write(`kiln: ${compiled} not built; running the server from source through tsx\n`);
    const p = inNs(
      ns,
      rig,
      process.execPath,
      [
        ...(o.nodeFlags ?? []),
        ...(o.cpuProf ? ['--cpu-prof', `--cpu-prof-dir=${o.cpuProf}`] : []),
        ...(fromDist ? [compiled] : ['--import', 'tsx', 'bench/dhcp-server-process.ts']),
        join(work, 'kiln.json'),
        join(work, 'kiln.sqlite'),
      ],
      undefined,
      o.tree,
    );
    await waitReady(p, /ready/, 'kiln', rig.startMs);
    if (o.verbose) p.stdout!.on('data', (d) => process.stderr.write(`kiln: ${d}`));
    // KILN_DHCP_STAGES=1 (read by the server process): its `stages` line is shown without the rest of verbose.
    else if (process.env['KILN_DHCP_STAGES']) {
      let buf = '';
      p.stdout!.on('data', (d) => {
        const lines = (buf + String(d)).split('\n');
        buf = lines.pop()!;
        for (const line of lines) if (line.startsWith('stages ')) process.stderr.write(`kiln: ${line}\n`);
      });
    }
    return p;
  };

/** kea-dhcp4 2.2 with the memfile lease store (persist: true, CSV appends without fsync); raw sockets for direct clients. */
export const keaServer: ServerStart = async (ns, rig, work) => {
  const conf = {
    Dhcp4: {
      'interfaces-config': { interfaces: [ns.nsIf], 'dhcp-socket-type': rig.mode === 'direct' ? 'raw' : 'udp' },
      'lease-database': { type: 'memfile', persist: true, name: join(work, 'kea-leases4.csv'), 'lfc-interval': 0 },
      'valid-lifetime': rig.leaseSeconds,
      subnet4: [
        {
          id: 1,
          subnet: rig.subnet,
          pools: [{ pool: `${rig.pool.start} - ${rig.pool.end}` }],
          ...(rig.relay ? { 'option-data': [{ name: 'routers', data: rig.relay }] } : {}),
        },
      ],
      loggers: [{ name: 'kea-dhcp4', severity: 'WARN', output_options: [{ output: 'stderr' }] }],
    },
  };
  writeFileSync(join(work, 'kea.json'), JSON.stringify(conf));
  const p = inNs(ns, rig, '/usr/sbin/kea-dhcp4', ['-c', join(work, 'kea.json')], {
    ...process.env,
    KEA_LOCKFILE_DIR: work,
    KEA_PIDFILE_DIR: work,
  });
  await waitReady(p, rig.startMs ?? 2500, 'kea');
  return p;
};

/** dnsmasq (its lease file rewritten per change, no fsync). */
export const dnsmasqServer: ServerStart = async (ns, rig, work) => {
  const mask = rig.subnet.endsWith('/16')
    ? '255.255.0.0'
    : rig.subnet.endsWith('/14')
      ? '255.252.0.0'
      : '255.255.255.0';
  const p = inNs(ns, rig, '/usr/sbin/dnsmasq', [
    '--no-daemon',
    '--port=0',
    '--user=root',
    `--interface=${ns.nsIf}`,
    '--bind-interfaces',
    `--dhcp-range=${rig.pool.start},${rig.pool.end},${mask},${rig.leaseSeconds}`,
    `--dhcp-leasefile=${join(work, 'dnsmasq.leases')}`,
    '--dhcp-authoritative',
    '--dhcp-lease-max=300000',
    '--no-ping',
    '--quiet-dhcp',
    ...(rig.relay ? [`--dhcp-option=3,${rig.relay}`] : []),
  ]);
  await waitReady(p, 1500, 'dnsmasq');
  return p;
};

/**
 * One run: empty lease stores, a fresh namespace, the server started in it,
 * one perfdhcp run, the server stopped and the namespace removed.
 */
export async function runOnce(
  rig: RigShape,
  work: string,
  name: string,
  start: ServerStart,
  offered: number,
  seconds: number,
  macs: number,
  verbose: boolean,
): Promise<RunResult> {
  for (const f of readdirSync(work))
    if (/^(kiln\.sqlite|kea-leases4|dnsmasq\.leases)/.test(f)) rmSync(join(work, f), { force: true });
  const ns = createNetns('dfb', `${rig.client}/${rig.clientPrefix}`, `${rig.server}/${rig.serverPrefix}`);
  try {
    if (rig.mode === 'relayed') {
      const { execFileSync } = await import('node:child_process');
      execFileSync('ip', ['addr', 'add', `${rig.relay}/${rig.subnet.split('/')[1]}`, 'dev', ns.hostIf]);
      ns.exec('ip', ['route', 'add', rig.subnet, 'dev', ns.nsIf]);
    }
    const p = await start(ns, rig, work);
    try {
      const cpu0 = cpuSeconds(p.pid);
      const w0 = writtenBytes(p.pid);
      const udp0 = [udpCounters(ns), udpCounters()];
      const r = await perfdhcp(ns, rig, offered, seconds, macs, verbose);
      if (verbose)
        process.stderr.write(
          `UDP counters during the run, server namespace: ${udpDelta(udp0[0]!, udpCounters(ns))}; perfdhcp side: ${udpDelta(udp0[1]!, udpCounters())}\n`,
        );
      // Kiln's last commits and the others' buffered appends: wait a moment so their writes are counted.
      await new Promise((res) => setTimeout(res, 500));
      return {
        server: name,
        offered,
        seconds,
        ...r,
        cpu: cpuSeconds(p.pid) - cpu0,
        writtenBytes: writtenBytes(p.pid) - w0,
      };
    } finally {
      await stop(p);
    }
  } finally {
    ns.remove();
  }
}

/**
 * Where in a run the slow OFFERs were: p99 of all OFFERs and of those sent after the first second, and the
 * 100 ms windows (by send time) holding most OFFERs slower than `slowMs`, each with its count and worst delay.
 */
export function describeOfferTail(r: RunResult, slowMs = 10, windows = 6): string {
  const all = r.offerTimeline.map(([, ms]) => ms);
  const late = r.offerTimeline.filter(([s]) => s >= 1).map(([, ms]) => ms);
  const bins = new Map<number, { n: number; worst: number }>();
  for (const [s, ms] of r.offerTimeline) {
    if (ms <= slowMs) continue;
    const k = Math.floor(s * 10);
    const b = bins.get(k) ?? { n: 0, worst: 0 };
    b.n++;
    b.worst = Math.max(b.worst, ms);
    bins.set(k, b);
  }
  const slow = [...bins.values()].reduce((n, b) => n + b.n, 0);
  const top = [...bins.entries()]
    .sort((a, b) => b[1].n - a[1].n)
    .slice(0, windows)
    .map(([k, b]) => `${(k / 10).toFixed(1)} s: ${b.n} (worst ${b.worst.toFixed(0)} ms)`)
    .join('; ');
  const f = (n: number) => (Number.isFinite(n) ? n.toFixed(2) : '-');
  return `OFFER p99 ${f(pct(all, 99))} ms (after the first second ${f(pct(late, 99))}), ${slow} of ${all.length} over ${slowMs} ms in ${bins.size} windows of 100 ms; most: ${top || 'none'}`;
}

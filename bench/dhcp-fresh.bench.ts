// DHCPv4 benchmark of a rack arriving at once: every client a new MAC, direct
// broadcast (no relay), the server pinned to one core (taskset -c 0) and
// perfdhcp to the other (-c 1). Kiln (bench/dhcp-server-process.ts, SQLite,
// interface mode) and kea-dhcp4 (memfile, persist=true, raw sockets) each run
// in a fresh network namespace with an empty lease store for every run, at a
// ladder of offered rates ending well above capacity (overload).
// Run as root: npx tsx bench/dhcp-fresh.bench.ts [seconds]
// Environment: KILN_DHCP_RATES=500,1000,… (offered DORA/s), KILN_DHCP_ONLY=kiln,base,kea, KILN_DHCP_NICE (-10),
// KILN_DHCP_BASE=<checkout> (a second Kiln, e.g. main, interleaved as `base`),
// KILN_DHCP_CPU_PROF=DIR (Kiln's CPU profile), KILN_DHCP_VERBOSE=1 (perfdhcp's report).
// Durability differs: Kiln's ACK leaves only after its lease is committed to
// SQLite with synchronous=FULL (fsynced; group commit); Kea's memfile appends
// to its CSV without fsync, so an ACKed lease can be lost at power loss.
// Subnet 10.94.0.0/16: server 10.94.0.1, perfdhcp on 10.94.0.254, pool
// 10.94.1.0–10.94.255.250 (65 000 addresses; a 10 s run at 6 000/s fits).
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createNetns, type TestNetns } from '../test/support/netns.js';
import { defaultDhcpConfig, type DhcpConfig } from '../src/boot/dhcp/dhcp-config.js';

const seconds = Number(process.argv[2] ?? 10);
const rates = (process.env['KILN_DHCP_RATES'] ?? '1000,2000,4000,6000,12000,40000').split(',').map(Number);
const work = mkdtempSync(join(tmpdir(), 'kiln-dhcp-fresh-'));
const SERVER = '10.94.0.1';
/**
 * Servers and perfdhcp run at this nice value (KILN_DHCP_NICE, default -10), the same for Kiln and
 * Kea: on a shared machine other processes on the pinned core otherwise decide the figures.
 */
const NICE = process.env['KILN_DHCP_NICE'] ?? '-10';
const CLIENT = '10.94.0.254';
const POOL = { start: '10.94.1.0', end: '10.94.255.250' };

interface Result {
  server: string;
  offered: number;
  discovers: number;
  offers: number;
  requests: number;
  acks: number;
  /** DISCOVERs without OFFER plus REQUESTs without ACK. */
  drops: number;
  offerMs: [number, number];
  ackMs: [number, number];
  cpu: number;
  writtenBytes: number;
}

/** CPU seconds (user + system, all threads) of `pid` so far (proc(5) stat fields 14 and 15, ticks of 1/100 s). */
function cpuSeconds(pid: number | undefined): number {
  try {
    const f = readFileSync(`/proc/${pid}/stat`, 'utf8');
    const rest = f.slice(f.lastIndexOf(')') + 2).split(' ');
    return (Number(rest[11]) + Number(rest[12])) / 100;
  } catch {
    return NaN;
  }
}

/** Bytes `pid` caused to be written to storage so far (proc(5) io: write_bytes). */
function writtenBytes(pid: number | undefined): number {
  try {
    return Number(/write_bytes: (\d+)/.exec(readFileSync(`/proc/${pid}/io`, 'utf8'))?.[1] ?? NaN);
  } catch {
    return NaN;
  }
}

/** UDP counters of /proc/net/snmp in `ns` (or the root namespace). */
function udpCounters(ns?: TestNetns): Record<string, number> {
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

const pct = (xs: number[], p: number): number => {
  if (!xs.length) return NaN;
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.floor((p / 100) * s.length))]!;
};

/** Latencies (ms) from perfdhcp's `-x t` section `name` ("sent / received: S / R" per completed exchange). */
function delays(out: string, name: string): number[] {
  const header = `***Timestamps for packets: ${name}***`;
  const start = out.indexOf(header);
  if (start < 0) return [];
  const end = out.indexOf('***', start + header.length);
  const ms: number[] = [];
  for (const m of out.slice(start, end < 0 ? undefined : end).matchAll(/sent \/ received: ([\d.]+) \/ ([\d.]+)/g))
    ms.push((Number(m[2]) - Number(m[1])) * 1000);
  return ms;
}

/**
 * perfdhcp receives every reply on one socket with the system's default
 * receive buffer (net.core.rmem_default, about 208 KiB: a few hundred
 * replies). A group commit releases its ACKs together, which real clients (a
 * socket each) take in their stride but which overflows that one buffer: the
 * load generator, not the server, then drops the replies (RcvbufErrors on
 * perfdhcp's side). The default is raised to 4 MiB while perfdhcp opens its
 * socket (about half a second) and put back at once.
 */
async function perfdhcp(ns: TestNetns, offered: number): Promise<Omit<Result, 'server' | 'cpu' | 'writtenBytes'>> {
  const rmemDefault = readFileSync('/proc/sys/net/core/rmem_default', 'utf8').trim();
  const args = [
    '-n',
    NICE,
    'taskset',
    '-c',
    '1',
    'perfdhcp',
    '-4',
    '-g',
    'single',
    '-l',
    ns.hostIf,
    '-B',
    '-r',
    String(offered),
  ];
  args.push('-p', String(seconds), '-W', '1000000', '-R', '16000000', '-x', 't');
  writeFileSync('/proc/sys/net/core/rmem_default', String(4 * 1024 * 1024));
  let out = '';
  try {
    const p = spawn('nice', args, { stdio: ['ignore', 'pipe', 'ignore'] });
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
  const report = out.slice(0, out.indexOf('***Timestamps'));
  if (process.env['KILN_DHCP_VERBOSE']) process.stderr.write(report);
  const num = (re: RegExp) => Number(re.exec(report)?.[1] ?? NaN);
  const discovers = num(/DISCOVER-OFFER\*+\s+sent packets: (\d+)/);
  const offers = num(/DISCOVER-OFFER\*+\s+sent packets: \d+\s+received packets: (\d+)/);
  const requests = num(/REQUEST-ACK\*+\s+sent packets: (\d+)/);
  const acks = num(/REQUEST-ACK\*+\s+sent packets: \d+\s+received packets: (\d+)/);
  const o = delays(out, 'DISCOVER-OFFER');
  const a = delays(out, 'REQUEST-ACK');
  return {
    offered,
    discovers,
    offers,
    requests,
    acks,
    drops: discovers - offers + (requests - acks),
    offerMs: [pct(o, 50), pct(o, 99)],
    ackMs: [pct(a, 50), pct(a, 99)],
  };
}

async function waitReady(p: ChildProcess, what: RegExp | number, label: string): Promise<void> {
  if (typeof what === 'number') return new Promise((r) => setTimeout(r, what));
  await new Promise<void>((resolve, reject) => {
    const t = setTimeout(() => reject(new Error(`${label} did not start`)), 30_000);
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

function stop(p: ChildProcess): Promise<void> {
  if (p.exitCode !== null || !p.pid) return Promise.resolve();
  const done = new Promise<void>((r) => p.once('exit', () => r()));
  process.kill(p.pid, 'SIGTERM');
  return Promise.race([
    done,
    new Promise<void>((r) =>
      setTimeout(() => {
        try {
          process.kill(p.pid!, 'SIGKILL');
        } catch {
          /* gone */
        }
        r();
      }, 10_000),
    ),
  ]);
}

/** Runs `cmd` pinned to core 0 inside `ns` (ip netns exec and taskset exec it: the child's PID is the server's). */
const pinned = (ns: TestNetns, cmd: string, args: string[], env?: NodeJS.ProcessEnv, cwd?: string): ChildProcess =>
  spawn('ip', ['netns', 'exec', ns.name, 'nice', '-n', NICE, 'taskset', '-c', '0', cmd, ...args], {
    stdio: ['ignore', 'pipe', 'inherit'],
    env: env ?? process.env,
    cwd,
  });

/** Kiln's server from the checkout at `tree` (default: this one), e.g. a worktree of main for a before/after run. */
const kilnAt =
  (tree?: string) =>
  async (ns: TestNetns): Promise<ChildProcess> => {
    const cfg: DhcpConfig = {
      ...defaultDhcpConfig,
      enabled: true,
      serverAddress: SERVER,
      httpBase: `http://${SERVER}:8080`,
      subnets: [{ cidr: '10.94.0.0/16', mode: 'full', pools: [POOL], dns: [], leaseSeconds: 43_200, attached: true }],
    };
    writeFileSync(join(work, 'kiln.json'), JSON.stringify({ dhcp: cfg }));
    const prof = process.env['KILN_DHCP_CPU_PROF'];
    const p = pinned(
      ns,
      process.execPath,
      [
        ...(prof ? ['--cpu-prof', `--cpu-prof-dir=${prof}`] : []),
        '--import',
        'tsx',
        'bench/dhcp-server-process.ts',
        join(work, 'kiln.json'),
        join(work, 'kiln.sqlite'),
      ],
      undefined,
      tree,
    );
    await waitReady(p, /ready/, 'kiln');
    if (process.env['KILN_DHCP_VERBOSE']) p.stdout!.on('data', (d) => process.stderr.write(`kiln: ${d}`));
    return p;
  };

const kea = async (ns: TestNetns): Promise<ChildProcess> => {
  const conf = {
    Dhcp4: {
      'interfaces-config': { interfaces: [ns.nsIf], 'dhcp-socket-type': 'raw' },
      'lease-database': { type: 'memfile', persist: true, name: join(work, 'kea-leases4.csv'), 'lfc-interval': 0 },
      'valid-lifetime': 43_200,
      subnet4: [{ id: 1, subnet: '10.94.0.0/16', pools: [{ pool: `${POOL.start} - ${POOL.end}` }] }],
      loggers: [{ name: 'kea-dhcp4', severity: 'WARN', output_options: [{ output: 'stderr' }] }],
    },
  };
  writeFileSync(join(work, 'kea.json'), JSON.stringify(conf));
  const p = pinned(ns, '/usr/sbin/kea-dhcp4', ['-c', join(work, 'kea.json')], {
    ...process.env,
    KEA_LOCKFILE_DIR: work,
    KEA_PIDFILE_DIR: work,
  });
  await waitReady(p, 2500, 'kea');
  return p;
};

async function run(server: string, start: (ns: TestNetns) => Promise<ChildProcess>, offered: number): Promise<Result> {
  for (const f of readdirSync(work)) if (/^(kiln\.sqlite|kea-leases4)/.test(f)) rmSync(join(work, f), { force: true });
  const ns = createNetns('dfb', `${CLIENT}/16`, `${SERVER}/16`);
  try {
    const p = await start(ns);
    try {
      const cpu0 = cpuSeconds(p.pid);
      const w0 = writtenBytes(p.pid);
      const udp0 = [udpCounters(ns), udpCounters()];
      const r = await perfdhcp(ns, offered);
      if (process.env['KILN_DHCP_VERBOSE'])
        process.stderr.write(
          `UDP counters during the run, server namespace: ${udpDelta(udp0[0]!, udpCounters(ns))}; perfdhcp side: ${udpDelta(udp0[1]!, udpCounters())}\n`,
        );
      // Kiln's last commits and Kea's buffered appends: wait a moment so their writes are counted.
      await new Promise((res) => setTimeout(res, 500));
      return { server, ...r, cpu: cpuSeconds(p.pid) - cpu0, writtenBytes: writtenBytes(p.pid) - w0 };
    } finally {
      await stop(p);
    }
  } finally {
    ns.remove();
  }
}

const f = (n: number, d = 0) => (Number.isFinite(n) ? n.toFixed(d) : '-');

try {
  const only = process.env['KILN_DHCP_ONLY']?.split(',');
  // KILN_DHCP_BASE=<checkout> adds Kiln from that tree (e.g. `git worktree add /tmp/base main`, with node_modules) as `base`.
  const base = process.env['KILN_DHCP_BASE'];
  const servers = (
    [['kiln', kilnAt()], ...(base ? [['base', kilnAt(base)]] : []), ['kea', kea]] as Array<
      [string, (ns: TestNetns) => Promise<ChildProcess>]
    >
  ).filter(([n]) => !only || only.includes(n));
  const results: Result[] = [];
  for (const offered of rates)
    for (const [name, start] of servers) {
      const r = await run(name, start, offered);
      results.push(r);
      console.error(
        `${name.padEnd(5)} offered ${offered}/s: ${f(r.acks / seconds)} DORA/s, drops ${r.drops}, OFFER p50/p99 ${f(r.offerMs[0], 2)}/${f(r.offerMs[1], 2)} ms, ACK p50/p99 ${f(r.ackMs[0], 2)}/${f(r.ackMs[1], 2)} ms, CPU ${f(r.cpu, 1)} s`,
      );
    }
  console.log(
    `\nDHCPv4 fresh clients (every MAC new), direct broadcast, server on core 0, perfdhcp on core 1, ${seconds} s per run, empty lease store each run\n`,
  );
  const head = [
    'offered/s'.padStart(9),
    ...servers.map(([n]) => `| ${n.padEnd(5)} DORA/s  drops  OFFER p50/p99 ms  ACK p50/p99 ms  CPU ms/1000  bytes/ACK`),
  ];
  console.log(head.join(' '));
  for (const offered of rates) {
    const cells = servers.map(([n]) => {
      const r = results.find((x) => x.server === n && x.offered === offered)!;
      return `| ${f(r.acks / seconds).padStart(12)} ${String(r.drops).padStart(6)} ${`${f(r.offerMs[0], 2)}/${f(r.offerMs[1], 2)}`.padStart(17)} ${`${f(r.ackMs[0], 2)}/${f(r.ackMs[1], 2)}`.padStart(15)} ${f((r.cpu / r.acks) * 1e6).padStart(12)} ${f(r.writtenBytes / r.acks).padStart(10)}`;
    });
    console.log([String(offered).padStart(9), ...cells].join(' '));
  }
  console.log(
    "\nDORA/s: ACKs received ÷ run seconds. drops: DISCOVERs without OFFER + REQUESTs without ACK. bytes/ACK: the server process's write_bytes (proc(5) io) ÷ ACKs. Kiln fsyncs each group commit before its ACKs leave; Kea memfile does not fsync.",
  );
} finally {
  rmSync(work, { recursive: true, force: true });
}

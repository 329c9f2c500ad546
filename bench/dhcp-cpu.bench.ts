// CPU cost per DORA of Kiln's and Kea's DHCPv4 servers for one fixed workload,
// side by side (issue 17: Kiln's CPU per DORA against Kea's). Two measures:
// - callgrind: the server runs under valgrind's callgrind, with instrumentation
//   switched on (callgrind_control -i on) only for the measured exchanges, and
//   the instructions it executed (all threads, user space; the kernel's packet
//   handling is not counted) are divided by the ACKs perfdhcp received. The
//   count does not depend on what else runs on the machine.
// - cpu: the server runs as it does in the fresh-client bench (no valgrind) and
//   its CPU time (proc(5) stat, user + system, all threads) over the measured
//   exchanges is divided by the ACKs. Load on the machine moves this figure.
// The workload, the same for every server: perfdhcp, every client a new MAC
// (-R 16000000), direct broadcast (-B), first a warm-up (not counted: V8
// compiles Kiln's hot path then), then the measured exchanges, each at a fixed
// rate with a fixed seed (different seeds, so measured clients are new too).
// Kiln: bench/dhcp-server-process.ts (compiled; SQLite file, fsync before ACK,
// group commit), Kea: kea-dhcp4 2.2 memfile (persist, no fsync), both pinned to
// core 0, in a fresh namespace (10.116.0.0/16) with an empty lease store.
// Run as root: npx tsx bench/dhcp-cpu.bench.ts
// Environment: KILN_DHCP_CPU_MODES=callgrind,cpu (default both), KILN_DHCP_ONLY=kiln,base,kea,
// KILN_DHCP_BASE=<checkout> (a second Kiln as `base`, e.g. main, built), KILN_DHCP_CG_RATE (25/s),
// KILN_DHCP_CG_N (1000), KILN_DHCP_CPU_RATE (2000/s), KILN_DHCP_CPU_N (20000), KILN_DHCP_VERBOSE=1,
// KILN_DHCP_KILN_CONFIG (JSON: Kiln's dhcp settings), KILN_DHCP_ROUNDS (1), KILN_DHCP_NODE_FLAGS (Kiln's Node),
// KILN_DHCP_PERF=DIR (cpu mode: `perf record -g` of each server over the measured exchanges, into DIR/<server>.perf;
// add KILN_DHCP_NODE_FLAGS=--perf-basic-prof so Kiln's compiled JavaScript has names in `perf report`).
import { execFileSync, spawn } from 'node:child_process';
import { mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createNetns } from '../test/support/netns.js';
import {
  cpuSeconds,
  keaServer,
  kilnServer,
  median,
  parsePerfdhcp,
  stop,
  type RigShape,
  type ServerStart,
} from './dhcp-rig.js';
import type { DhcpConfig } from '../src/boot/dhcp/dhcp-config.js';

type Mode = 'callgrind' | 'cpu';
const modes = (process.env['KILN_DHCP_CPU_MODES'] ?? 'callgrind,cpu').split(',') as Mode[];
const verbose = !!process.env['KILN_DHCP_VERBOSE'];
const rounds = Math.max(1, Math.min(9, Number(process.env['KILN_DHCP_ROUNDS'] ?? 1)));
/**
 * Warm-up and measured exchanges per mode. callgrind slows a server 20-100×; at 25/s each of Kiln's DORAs
 * is its own group commit (nothing else arrives within one), so the count does not depend on how fast the
 * machine runs it: the worst case per DORA, with none of the batching a busy server gets (cpu mode has it).
 */
const load: Record<Mode, { warm: number; warmRate: number; n: number; rate: number }> = {
  callgrind: {
    warm: 1000,
    warmRate: 100,
    n: Number(process.env['KILN_DHCP_CG_N'] ?? 1000),
    rate: Number(process.env['KILN_DHCP_CG_RATE'] ?? 25),
  },
  cpu: {
    warm: 5000,
    warmRate: 2000,
    n: Number(process.env['KILN_DHCP_CPU_N'] ?? 20_000),
    rate: Number(process.env['KILN_DHCP_CPU_RATE'] ?? 2000),
  },
};
const work = mkdtempSync(join(tmpdir(), 'kiln-dhcp-cpu-'));
// KILN_DHCP_CPU_UPPER=1: the upper half of the bench's /16, so two runs can share the machine without sharing a subnet.
const upper = process.env['KILN_DHCP_CPU_UPPER'] === '1';
const base: RigShape = {
  mode: 'direct',
  subnet: upper ? '10.116.128.0/17' : '10.116.0.0/16',
  pool: upper ? { start: '10.116.129.0', end: '10.116.255.254' } : { start: '10.116.1.0', end: '10.116.255.254' },
  server: upper ? '10.116.128.1' : '10.116.0.1',
  serverPrefix: upper ? 17 : 16,
  client: upper ? '10.116.128.254' : '10.116.0.254',
  clientPrefix: upper ? 17 : 16,
  leaseSeconds: 43_200,
  pinned: true,
  nice: '0',
};

interface Measured {
  server: string;
  mode: Mode;
  acks: number;
  discovers: number;
  /** Instructions (callgrind) or CPU seconds (cpu) over the measured exchanges. */
  cost: number;
  offerMs: [number, number];
  ackMs: [number, number];
}

/** One perfdhcp run of `n` fresh clients at `rate`/s with `seed`, against the server in `ns`. */
function perfdhcp(hostIf: string, n: number, rate: number, seed: number, dropS: number) {
  const args = ['-4', '-r', String(rate), '-n', String(n), '-R', '16000000', '-s', String(seed)];
  args.push('-d', String(dropS), '-W', String(dropS * 1_000_000), '-g', 'single', '-l', hostIf, '-B', '-x', 't');
  return new Promise<ReturnType<typeof parsePerfdhcp>>((resolve) => {
    const p = spawn('taskset', ['-c', '1', 'perfdhcp', ...args], { stdio: ['ignore', 'pipe', 'ignore'] });
    const chunks: Buffer[] = [];
    p.stdout.on('data', (d: Buffer) => chunks.push(d));
    // Bounded: the run's own length plus its drop time and a margin.
    const killer = setTimeout(() => p.kill('SIGKILL'), (n / rate + dropS + 60) * 1000);
    p.once('exit', () => {
      clearTimeout(killer);
      const out = Buffer.concat(chunks).toString('utf8');
      if (verbose) process.stderr.write(out.slice(0, Math.max(0, out.indexOf('***Timestamps'))) || out);
      resolve(parsePerfdhcp(out));
    });
  });
}

/** Total instructions in a callgrind output file: the largest of its `summary:` and `totals:` lines. */
function callgrindTotal(file: string): number {
  const text = readFileSync(file, 'utf8');
  const all = [...text.matchAll(/^(?:summary|totals):\s*(\d+)/gm)].map((m) => Number(m[1]));
  return all.length ? Math.max(...all) : NaN;
}

async function measure(name: string, start: ServerStart, mode: Mode, round: number): Promise<Measured> {
  for (const f of readdirSync(work)) if (/^(kiln\.sqlite|kea-leases4|callgrind)/.test(f)) rmSync(join(work, f));
  const cg = join(work, `callgrind.${name}`);
  const rig: RigShape =
    mode === 'callgrind'
      ? {
          ...base,
          wrap: ['valgrind', '--tool=callgrind', '--instr-atstart=no', `--callgrind-out-file=${cg}`],
          // Kiln's "ready" (Node and the migrations under valgrind) or Kea's fixed wait.
          startMs: name === 'kea' ? 20_000 : 300_000,
        }
      : base;
  const l = load[mode];
  const ns = createNetns('dcpu', `${base.client}/${base.clientPrefix}`, `${base.server}/${base.serverPrefix}`);
  try {
    const p = await start(ns, rig, work);
    let stopped = false;
    try {
      const dropS = mode === 'callgrind' ? 5 : 1;
      const warm = await perfdhcp(ns.hostIf, l.warm, l.warmRate, 1000 + round, dropS);
      if (verbose) process.stderr.write(`${name} ${mode} warm-up: ${warm.acks} of ${warm.discovers} ACKed\n`);
      if (mode === 'callgrind') execFileSync('callgrind_control', ['-i', 'on', String(p.pid)], { timeout: 60_000 });
      const perfDir = mode === 'cpu' ? process.env['KILN_DHCP_PERF'] : undefined;
      const recorder = perfDir
        ? spawn('perf', ['record', '-q', '-g', '-F', '999', '-p', String(p.pid), '-o', join(perfDir, `${name}.perf`)], {
            stdio: 'ignore',
          })
        : undefined;
      const cpu0 = cpuSeconds(p.pid);
      const r = await perfdhcp(ns.hostIf, l.n, l.rate, 2000 + round, dropS);
      const cpu = cpuSeconds(p.pid) - cpu0;
      if (recorder?.pid && recorder.exitCode === null) {
        const done = new Promise((res) => recorder.once('exit', res));
        process.kill(recorder.pid, 'SIGINT');
        await done;
      }
      if (mode === 'callgrind') execFileSync('callgrind_control', ['-i', 'off', String(p.pid)], { timeout: 60_000 });
      // Under valgrind the server takes a while to stop and write its counts.
      await stop(p, mode === 'callgrind' ? 180_000 : 10_000);
      stopped = true;
      const cost = mode === 'callgrind' ? callgrindTotal(cg) : cpu;
      const m: Measured = {
        server: name,
        mode,
        acks: r.acks,
        discovers: r.discovers,
        cost,
        offerMs: r.offerMs,
        ackMs: r.ackMs,
      };
      console.error(`${name.padEnd(5)} ${mode.padEnd(9)} round ${round + 1}: ${line(m)}`);
      return m;
    } finally {
      if (!stopped) await stop(p, mode === 'callgrind' ? 180_000 : 10_000);
    }
  } finally {
    ns.remove();
  }
}

const f = (n: number, d = 0) => (Number.isFinite(n) ? n.toFixed(d) : '-');
const perThousand = (m: Measured) =>
  m.mode === 'callgrind' ? `${f(m.cost / m.acks / 1000, 1)} k instr/DORA` : `${f((m.cost / m.acks) * 1e6, 1)} ms/1000`;
const line = (m: Measured) =>
  `${m.acks} of ${m.discovers} ACKed, ${perThousand(m)}, OFFER p50/p99 ${f(m.offerMs[0], 2)}/${f(m.offerMs[1], 2)} ms, ACK p50/p99 ${f(m.ackMs[0], 2)}/${f(m.ackMs[1], 2)} ms`;

try {
  const only = process.env['KILN_DHCP_ONLY']?.split(',');
  const baseTree = process.env['KILN_DHCP_BASE'];
  const dhcp = JSON.parse(process.env['KILN_DHCP_KILN_CONFIG'] ?? '{}') as Partial<DhcpConfig>;
  const nodeFlags = process.env['KILN_DHCP_NODE_FLAGS']?.split(' ').filter(Boolean);
  // Under callgrind a DISCOVER may wait in Kiln's queue longer than the default 2 s when the machine is busy:
  // shedding it would change the workload, so the age limit is the most it may be there.
  const serversFor = (mode: Mode) => {
    const cfg = mode === 'callgrind' ? { queueMaxAgeMs: 60_000 } : {};
    const flags = nodeFlags ? { nodeFlags } : {};
    return (
      [
        ['kiln', kilnServer({ verbose, dhcp: { ...cfg, ...dhcp }, ...flags })],
        ...(baseTree ? [['base', kilnServer({ tree: baseTree, verbose, dhcp: cfg, ...flags })]] : []),
        ['kea', keaServer],
      ] as Array<[string, ServerStart]>
    ).filter(([n]) => !only || only.includes(n));
  };
  const servers = serversFor('cpu');
  const results: Measured[] = [];
  // Rounds interleave the servers, so a change in the machine's load hits each alike (cpu mode).
  for (const mode of modes)
    for (let round = 0; round < rounds; round++)
      for (const [name, start] of serversFor(mode)) results.push(await measure(name, start, mode, round));
  console.log(
    `\nDHCPv4 CPU per DORA, fresh clients (every MAC new), direct broadcast, server pinned to core 0, ${rounds} round(s)\n`,
  );
  console.log(
    'mode       server  workload (warm-up, measured)          ACKed/sent   per DORA (median)        OFFER p50/p99 ms  ACK p50/p99 ms',
  );
  for (const mode of modes)
    for (const [name] of servers) {
      const rs = results.filter((r) => r.mode === mode && r.server === name);
      const l = load[mode];
      const per = median(rs.map((r) => r.cost / r.acks));
      const shown = mode === 'callgrind' ? `${f(per / 1000, 1)} k instructions` : `${f(per * 1e6, 1)} ms CPU per 1000`;
      console.log(
        `${mode.padEnd(10)} ${name.padEnd(7)} ${`${l.warm} at ${l.warmRate}/s, ${l.n} at ${l.rate}/s`.padEnd(37)} ${`${median(rs.map((r) => r.acks))}/${median(rs.map((r) => r.discovers))}`.padEnd(12)} ${shown.padEnd(24)} ${`${f(median(rs.map((r) => r.offerMs[0])), 2)}/${f(median(rs.map((r) => r.offerMs[1])), 2)}`.padEnd(17)} ${f(median(rs.map((r) => r.ackMs[0])), 2)}/${f(median(rs.map((r) => r.ackMs[1])), 2)}`,
      );
    }
  console.log(
    '\ncallgrind: instructions the server executed in user space (all threads) during the measured exchanges ÷ ACKs; the kernel is not counted, and latencies under valgrind mean nothing. cpu: proc(5) user + system CPU of the server ÷ ACKs, moved by load on the machine. Kiln fsyncs each group commit before its ACKs leave; Kea memfile does not fsync.',
  );
} finally {
  rmSync(work, { recursive: true, force: true });
}

// Boot storm: N simulated machines power on at once and go the whole
// firmware path against one `kiln serve` (DHCP full mode behind a relay, TFTP,
// HTTP boot) in a network namespace, the way their firmware and iPXE do it
// (test/support/fleet.ts):
//   firmware DHCP → TFTP undionly.kpxe (BIOS) | TFTP ipxe.efi (UEFI PXE)
//   | HEAD+GET ipxe.efi (UEFI HTTP boot) → iPXE DHCP → /boot.ipxe
//   → per-host script → discovery kernel + initrd (23 MB) → discovery report.
// The run counts machines that failed and machines that had to resend
// something (a DHCP retransmission within one boot is normal firmware
// behaviour; a failure would be a second boot). There is no peer to run side
// by side: no single peer does this chain (dnsmasq + nginx have no discovery
// step); the figures are Kiln's own, with the controller's memory after.
// Run as root: npx tsx bench/boot-storm.bench.ts [hosts=1000] [parallel=all] [--no-images]
//   [--firmware=bios|uefi-pxe|uefi-http|mixed] (default bios; mixed = a third of each)
//   [--tftp-nice=0..19] (tftp.nativeNice; the config default when absent)
//   [--max-loading=N] (the boot waiting room's max-loading; the config default when absent; 0: no limit)
//   [--sim-procs=N] (the simulator as N processes, bench/storm-sim.ts, each its own relay address and a
//   slice of the machines; default 1 = in this process; parallel must be all with N > 1)
//   [--power=headroom|stagger|none|all] (the machines are known hosts whose BMC is the simulator, Kiln's
//   webhook driver; a machine boots when `POST /api/v1/power/batch` powers it on, so the power queue and its
//   pacing decide when: headroom = admission control, stagger = --stagger-ms apart (default 10), none =
//   stagger 0 and 1000 in parallel; all = the three in turn, each on a fresh controller; a list such as
//   none,headroom runs those in that order)
//   [--shared-source] (every simulated machine fetches from this host's one address through a pool of 256
//   connections per simulator process, as before 2026-12-07; default: each from its leased address on
//   connections of its own, as a real row does, so Kiln's timeline sees each machine's kernel, initrd and report)
//   [--dhcp-thread=own|main] (dhcp.worker: DHCP on its own thread, the default, or on the main event loop)
//   [--dhcp-rcvbuf-kib=N] (dhcp.receiveBufferKiB; the config default when absent)
//   [--controllers=2|3] (that many `kiln serve` on one fresh PostgreSQL database, each in its own namespace,
//   test/support/cluster-storm-bed.ts; the relay forwards every DHCP message to each; the machines fail over
//   between members as Kiln's scripts say, and a failed boot starts again once from the firmware)
//   [--kill-at=N] (with --controllers: `kill -9` of member 0 once N machines have their per-host script;
//   prints the pause the machines talking to it saw, then checks leases, hosts and events in the database)
//   (--power with --controllers: the batch is posted to the last member, whose admission sees every member's
//   data plane through the store; the simulators are the machines' BMCs on the root end of that member's veth,
//   so a kill of member 0 leaves the batch running)
// The node image is built once into KILN_BENCH_CACHE (default /var/tmp/kiln-bench-cache);
// KILN_STORM_CPU_PROF=DIR writes the controller's CPU profile there.
import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, symlinkSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { Agent, request } from 'undici';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { kilnBin } from '../test/support/serve-process.js';
import { fleetFirmwares, fleetMac, runFleet, type FleetFirmware, type FleetRun } from '../test/support/fleet.js';
import { STORM_HTTP, STORM_RELAY, startStormBed, type StormBed } from '../test/support/storm-bed.js';
import { clusterRelay, startClusterStormBed } from '../test/support/cluster-storm-bed.js';
import {
  checkClusterStore,
  pauseAfterKill,
  requestsToDead,
  type RequestsToDead,
  type KillPause,
  type StoreCheck,
} from '../test/support/cluster-storm-check.js';
import type { FleetTarget } from '../test/support/fleet.js';

const args = process.argv.slice(2).filter((a) => !a.startsWith('--'));
/** --no-images: skip the kernel and initrd downloads, to see the control plane alone. */
const images = !process.argv.includes('--no-images');
const fwArg = process.argv.find((a) => a.startsWith('--firmware='))?.slice('--firmware='.length) ?? 'bios';
if (fwArg !== 'mixed' && !fleetFirmwares.includes(fwArg as FleetFirmware))
  throw new Error(`--firmware must be one of ${fleetFirmwares.join(', ')} or mixed`);
const FIRMWARE = fwArg as FleetFirmware | 'mixed';
const maxLoadingArg = process.argv.find((a) => a.startsWith('--max-loading='))?.slice('--max-loading='.length);
const MAX_LOADING = maxLoadingArg === undefined ? undefined : Number(maxLoadingArg);
if (MAX_LOADING !== undefined && !(Number.isInteger(MAX_LOADING) && MAX_LOADING >= 0))
  throw new Error('--max-loading must be a whole number (0: no limit)');
const niceArg = process.argv.find((a) => a.startsWith('--tftp-nice='))?.slice('--tftp-nice='.length);
const TFTP_NICE = niceArg === undefined ? undefined : Number(niceArg);
if (TFTP_NICE !== undefined && !(Number.isInteger(TFTP_NICE) && TFTP_NICE >= 0 && TFTP_NICE <= 19))
  throw new Error('--tftp-nice must be 0..19');
const flag = (name: string): string | undefined =>
  process.argv.find((a) => a.startsWith(`--${name}=`))?.slice(name.length + 3);
const SIM_PROCS = Math.max(1, Math.min(16, Number(flag('sim-procs') ?? 1)));
const LEASED_SOURCES = !process.argv.includes('--shared-source');
const powerArg = flag('power');
type Pacing = 'headroom' | 'stagger' | 'none';
const PACINGS: Pacing[] | undefined =
  powerArg === undefined
    ? undefined
    : powerArg === 'all'
      ? ['headroom', 'stagger', 'none']
      : (powerArg.split(',') as Pacing[]);
if (PACINGS && !PACINGS.every((p) => ['headroom', 'stagger', 'none'].includes(p)))
  throw new Error('--power must be headroom, stagger, none, a comma-separated list of them (run in that order) or all');
const STAGGER_MS = Number(flag('stagger-ms') ?? 10);
const dhcpThread = flag('dhcp-thread');
if (dhcpThread !== undefined && dhcpThread !== 'own' && dhcpThread !== 'main')
  throw new Error('--dhcp-thread must be own or main');
const rcvbufArg = flag('dhcp-rcvbuf-kib');
const DHCP_RCVBUF_KIB = rcvbufArg === undefined ? undefined : Number(rcvbufArg);
if (DHCP_RCVBUF_KIB !== undefined && !(Number.isInteger(DHCP_RCVBUF_KIB) && DHCP_RCVBUF_KIB >= 0))
  throw new Error('--dhcp-rcvbuf-kib must be a whole number of KiB');
const CONTROLLERS = Number(flag('controllers') ?? 1);
if (![1, 2, 3].includes(CONTROLLERS)) throw new Error('--controllers must be 1, 2 or 3');
const killArg = flag('kill-at');
const KILL_AT = killArg === undefined ? undefined : Number(killArg);
if (KILL_AT !== undefined && !(Number.isInteger(KILL_AT) && KILL_AT >= 0))
  throw new Error('--kill-at must be a whole number of machines');
if (KILL_AT !== undefined && CONTROLLERS < 2) throw new Error('--kill-at needs --controllers=2 or 3');
const HOSTS = Math.max(1, Math.min(20_000, Number(args[0] ?? 1000)));
const PARALLEL = Math.max(1, Math.min(HOSTS, Number(args[1] ?? HOSTS)));
const CACHE = process.env['KILN_BENCH_CACHE'] ?? '/var/tmp/kiln-bench-cache';
const prof = process.env['KILN_STORM_CPU_PROF'];

const work = mkdtempSync(join(tmpdir(), 'kiln-storm-'));
mkdirSync(CACHE, { recursive: true });
const logFile = join(tmpdir(), 'kiln-storm.log');
const clusterLogPrefix = join(tmpdir(), 'kiln-cluster-storm-member-');
/** Storms run so far in this invocation (each gets directories of its own). */
let storms = 0;
const SIM_HOST = '10.90.0.254';
const WEBHOOK_PORT = 9200;
const simScript = fileURLToPath(new URL('./storm-sim.ts', import.meta.url));

if (images) {
  const d = join(work, 'image-data');
  mkdirSync(d, { mode: 0o700 });
  symlinkSync(CACHE, join(d, 'cache'));
  process.stdout.write(`node image: building or reusing in ${CACHE}\n`);
  execFileSync(process.execPath, [kilnBin, 'image', 'build-discovery', '--data-dir', d], {
    stdio: ['ignore', 'ignore', 'inherit'],
    timeout: 15 * 60_000,
  });
}

interface StormResult {
  run: FleetRun;
  rss: number;
  peakRss: number;
  /** Power mode: from the batch request to the last machine's discovery report, and what the batch reply said. */
  power?: { pacing: Pacing; finishSeconds: number; batchSeconds: number; failedPowerOns: number; admission: unknown };
  /** Several controllers: the kill (if any), the pause it caused and the checks over the shared database. */
  cluster?: {
    peakRssByMember: number[];
    kill?: {
      afterScripts: number;
      secondsIntoStorm: number;
      epoch: number;
      pause: KillPause;
      requests: RequestsToDead;
    };
    checks: StoreCheck[];
  };
}

/** The process's peak resident set (VmHWM, proc(5)) in bytes; 0 once it has exited. */
function readPeakRss(pid: number | undefined): number {
  try {
    return Number(/^VmHWM:\s+(\d+) kB/m.exec(readFileSync(`/proc/${pid}/status`, 'utf8'))?.[1] ?? 0) * 1024;
  } catch {
    return 0;
  }
}

/** Where simulator process k is the relay: its address, and how to add it (k ≥ 1) to the bed's root end. */
interface SimRelays {
  relayOf(k: number): string;
  addRelay(k: number): void;
}

/** Several controllers: where the simulators boot from, and a callback for each machine that has its per-host script. */
interface SimCluster {
  target: FleetTarget;
  onScripts: () => void;
}

async function startSims(
  relays: SimRelays,
  /** Power mode: the address the simulators listen on as the machines' webhook BMCs; undefined: no power. */
  webhookHost: string | undefined,
  cluster?: SimCluster,
): Promise<{ procs: ChildProcess[]; results: string[] }> {
  const procs: ChildProcess[] = [];
  const results: string[] = [];
  for (let k = 0; k < SIM_PROCS; k++) {
    if (k > 0) relays.addRelay(k);
    const indices: number[] = [];
    for (let i = k; i < HOSTS; i += SIM_PROCS) indices.push(i);
    const out = join(work, `sim-${k}.json`);
    results.push(out);
    const job = {
      indices,
      relay: relays.relayOf(k),
      images,
      firmware: FIRMWARE,
      ...(webhookHost ? { webhookPort: WEBHOOK_PORT + k, listenAddress: webhookHost, powerWaitSeconds: 1800 } : {}),
      ...(cluster ? { target: cluster.target, maxBoots: 2, reportScripts: true } : {}),
      leasedSources: LEASED_SOURCES,
    };
    const child = spawn(process.execPath, ['--import', 'tsx', simScript, JSON.stringify(job), out], {
      stdio: ['pipe', 'pipe', 'inherit'],
    });
    procs.push(child);
    // Bounded: 60 s for a simulator to bind its relay socket (and webhook port).
    await new Promise<void>((resolve, reject) => {
      const t = setTimeout(() => reject(new Error(`simulator ${k} did not start within 60 s`)), 60_000);
      let pending = '';
      child.stdout!.on('data', (d: Buffer) => {
        const lines = (pending + String(d)).split('\n');
        pending = lines.pop() ?? '';
        if (cluster) for (const line of lines) if (line === 'scripts') cluster.onScripts();
        if (lines.includes('ready')) {
          clearTimeout(t);
          resolve();
        }
      });
      child.once('exit', (code) => reject(new Error(`simulator ${k} exited with ${code}`)));
    });
  }
  return { procs, results };
}

/** Waits for every simulator to exit (bounded by `limitMs`) and merges what they boot into one run. */
async function collectSims(
  procs: ChildProcess[],
  results: string[],
  limitMs: number,
): Promise<FleetRun & { endEpoch: number; startedEpoch: number }> {
  await Promise.all(
    procs.map(
      (c) =>
        new Promise<void>((resolve) => {
          if (c.exitCode !== null) return resolve();
          const t = setTimeout(() => {
            c.kill('SIGKILL');
            resolve();
          }, limitMs);
          c.once('exit', () => {
            clearTimeout(t);
            resolve();
          });
        }),
    ),
  );
  const parts = results.map(
    (f) => JSON.parse(readFileSync(f, 'utf8')) as FleetRun & { startedEpoch: number; endEpoch: number },
  );
  const startedEpoch = Math.min(...parts.map((x) => x.startedEpoch));
  const endEpoch = Math.max(...parts.map((x) => x.endEpoch));
  return {
    outcomes: parts.flatMap((x) => x.outcomes).sort((a, b) => a.index - b.index),
    wallSeconds: (endEpoch - startedEpoch) / 1000,
    lag: {
      p50: Math.max(...parts.map((x) => x.lag.p50)),
      p99: Math.max(...parts.map((x) => x.lag.p99)),
      max: Math.max(...parts.map((x) => x.lag.max)),
    },
    startedEpoch,
    endEpoch,
  };
}

/** Where a powered storm's batch goes: a controller's URL and admin token, and where the simulators are the BMCs. */
interface PowerTarget {
  http: string;
  token: string;
  webhookHost: string;
  /** The controller's log (its "power batch: progress" lines make the admission trace). */
  logFile: string;
}

/** Known hosts whose BMC is their simulator process (Kiln's webhook driver), created through the API. */
async function createPoweredHosts(t: PowerTarget): Promise<void> {
  const agent = new Agent({ connections: 16 });
  const auth = { authorization: `Bearer ${t.token}`, 'content-type': 'application/json' };
  let next = 0;
  const t0 = performance.now();
  await Promise.all(
    Array.from({ length: 16 }, async () => {
      while (next < HOSTS) {
        const i = next++;
        const mac = fleetMac(i);
        const r = await request(`${t.http}/api/v1/hosts`, {
          method: 'POST',
          dispatcher: agent,
          headers: auth,
          body: JSON.stringify({
            name: `sim-${i}`,
            nics: [{ mac }],
            bmc: {
              driver: 'webhook',
              address: `sim-${i}`,
              password: 'storm-bench-webhook-key',
              options: { urls: { on: `http://${t.webhookHost}:${WEBHOOK_PORT + (i % SIM_PROCS)}/on` } },
            },
          }),
        });
        const text = await r.body.text();
        if (r.statusCode !== 201 && r.statusCode !== 200) throw new Error(`creating sim-${i}: ${r.statusCode} ${text}`);
      }
    }),
  );
  await agent.close();
  process.stdout.write(`${HOSTS} hosts created through the API in ${((performance.now() - t0) / 1000).toFixed(1)} s\n`);
}

/**
 * The batch's admission as the controller logged it ("power batch: progress", at most every 5 s while power-ons
 * wait): what held the batch back, and whether the boot waiting room ever stood empty.
 */
function printAdmissionTrace(file: string, batchStart: number): void {
  const rows = readFileSync(file, 'utf8')
    .split('\n')
    .filter((l) => l.includes('"power batch: progress"'))
    .map((l) => JSON.parse(l) as Record<string, unknown>);
  if (rows.length === 0) return;
  process.stdout.write('admission trace    t s  launched  booting   window     rate  loading  waiting  congested\n');
  for (const x of rows) {
    const n = (k: string, w: number) => String(x[k] ?? '-').padStart(w);
    const t = ((Number(x['time']) - batchStart) / 1000).toFixed(1).padStart(22);
    process.stdout.write(
      `${t}${n('launched', 10)}${n('booting', 9)}${n('window', 9)}${n('rate', 9)}${n('loading', 9)}${n('waiting', 9)}  ${String(x['congested'] ?? '')}\n`,
    );
  }
}

/**
 * Powers every machine on through one `POST /api/v1/power/batch` with `pacing`, then waits for the simulators:
 * the fleet's run, and the batch's figures (from the request to the last discovery report).
 */
async function powerBatch(
  pacing: Pacing,
  t: PowerTarget,
  sims: { procs: ChildProcess[]; results: string[] },
): Promise<{ run: FleetRun; power: NonNullable<StormResult['power']> }> {
  const batchStart = Date.now();
  const r = await request(`${t.http}/api/v1/power/batch`, {
    method: 'POST',
    headers: { authorization: `Bearer ${t.token}`, 'content-type': 'application/json' },
    headersTimeout: 60 * 60_000,
    bodyTimeout: 60 * 60_000,
    body: JSON.stringify({
      hosts: Array.from({ length: HOSTS }, (_, i) => `sim-${i}`),
      action: 'on',
      ...(pacing === 'none'
        ? { pacing: 'stagger', staggerMs: 0, maxParallel: 1000 }
        : pacing === 'stagger'
          ? { pacing: 'stagger', staggerMs: STAGGER_MS, maxParallel: 1000 }
          : { pacing: 'headroom', maxParallel: 1000 }),
      reason: 'boot-storm bench',
    }),
  });
  const reply = (await r.body.json()) as { items?: { ok: boolean }[]; admission?: unknown; message?: string };
  if (r.statusCode !== 200) throw new Error(`power batch: ${r.statusCode} ${JSON.stringify(reply)}`);
  const batchSeconds = (Date.now() - batchStart) / 1000;
  const failedPowerOns = (reply.items ?? []).filter((x) => !x.ok).length;
  for (const c of sims.procs) c.stdin!.write('end\n');
  const run = await collectSims(sims.procs, sims.results, 60 * 60_000);
  if (pacing === 'headroom') printAdmissionTrace(t.logFile, batchStart);
  return {
    run,
    power: {
      pacing,
      finishSeconds: (run.endEpoch - batchStart) / 1000,
      batchSeconds,
      failedPowerOns,
      admission: reply.admission ?? null,
    },
  };
}

/** One storm on a fresh controller: at once (pacing undefined) or powered on through the power queue. */
async function storm(pacing: Pacing | undefined): Promise<StormResult> {
  // One directory per storm of this run (a list may name a pacing twice).
  const dataDir = join(work, `data-${++storms}-${pacing ?? 'at-once'}`);
  mkdirSync(dataDir, { mode: 0o700 });
  symlinkSync(CACHE, join(dataDir, 'cache'));
  const bed = await startStormBed({
    work,
    dataDir,
    nodeImage: images,
    logFile,
    ...(TFTP_NICE !== undefined ? { tftpNice: TFTP_NICE } : {}),
    ...(dhcpThread !== undefined ? { dhcpWorker: dhcpThread === 'own' } : {}),
    ...(DHCP_RCVBUF_KIB !== undefined ? { dhcpReceiveBufferKiB: DHCP_RCVBUF_KIB } : {}),
    ...(MAX_LOADING !== undefined ? { extraConfig: { 'max-loading': MAX_LOADING } } : {}),
    nodeFlags: prof ? ['--cpu-prof', `--cpu-prof-dir=${prof}`] : [],
    leasedSources: LEASED_SOURCES,
  });
  const procs: ChildProcess[] = [];
  let peakRss = 0;
  const sampler = setInterval(() => (peakRss = Math.max(peakRss, readPeakRss(bed.pid()))), 500);
  try {
    process.stdout.write(
      `\nstorm: ${HOSTS} machines (${FIRMWARE}), DHCP on ${dhcpThread === 'main' ? 'the main thread' : 'its own thread'}${DHCP_RCVBUF_KIB !== undefined ? ` (receive buffer ${DHCP_RCVBUF_KIB} KiB)` : ''}, ${pacing ? `powered on through the power queue, pacing ${pacing}` : `${PARALLEL} at once`}, ${SIM_PROCS} simulator process${SIM_PROCS > 1 ? 'es' : ''}, ${LEASED_SOURCES ? 'each machine from its leased address' : 'every machine from one address'}, tftp.nativeNice ${TFTP_NICE ?? 'default'}, max-loading ${MAX_LOADING ?? 'default'}${images ? '' : ', no kernel/initrd downloads'}\n`,
    );
    let run: FleetRun;
    let power: StormResult['power'];
    if (!pacing && SIM_PROCS === 1) {
      run = await runFleet({
        hosts: HOSTS,
        parallel: PARALLEL,
        images,
        firmware: FIRMWARE,
        leasedSources: LEASED_SOURCES,
      });
    } else if (!pacing) {
      if (PARALLEL < HOSTS) throw new Error('--sim-procs > 1 boots every machine at once: leave parallel at all');
      const sims = await startSims(
        {
          relayOf: (k) => (k === 0 ? STORM_RELAY : `10.91.0.${1 + k}`),
          addRelay: (k) => execFileSync('ip', ['addr', 'add', `10.91.0.${1 + k}/16`, 'dev', bed.ns.hostIf]),
        },
        undefined,
      );
      procs.push(...sims.procs);
      for (const c of sims.procs) c.stdin!.write('go\n');
      run = await collectSims(sims.procs, sims.results, 60 * 60_000);
    } else {
      const target: PowerTarget = {
        http: STORM_HTTP,
        token: bed.adminToken(),
        webhookHost: SIM_HOST,
        logFile,
      };
      await createPoweredHosts(target);
      const sims = await startSims(
        {
          relayOf: (k) => (k === 0 ? STORM_RELAY : `10.91.0.${1 + k}`),
          addRelay: (k) => execFileSync('ip', ['addr', 'add', `10.91.0.${1 + k}/16`, 'dev', bed.ns.hostIf]),
        },
        SIM_HOST,
      );
      procs.push(...sims.procs);
      ({ run, power } = await powerBatch(pacing, target, sims));
    }
    const metrics = await (
      await fetch(`${STORM_HTTP}/metrics`, { headers: { authorization: `Bearer ${bed.adminToken()}` } }).catch(
        () => new Response(''),
      )
    ).text();
    const rss = Number(/^process_resident_memory_bytes (\d+)/m.exec(metrics)?.[1] ?? 0);
    peakRss = Math.max(peakRss, readPeakRss(bed.pid()));
    return { run, rss, peakRss, ...(power ? { power } : {}) };
  } finally {
    clearInterval(sampler);
    for (const c of procs) if (c.exitCode === null) c.kill('SIGKILL');
    await bed.close();
  }
}

/**
 * One storm against CONTROLLERS members on one PostgreSQL, at once; with KILL_AT, `kill -9` of member 0 once that
 * many machines have their per-host script. Then the pause and the checks over the shared database.
 */
async function clusterStorm(pacing: Pacing | undefined): Promise<StormResult> {
  const runDir = join(work, `cluster-${++storms}`);
  mkdirSync(runDir);
  const bed = await startClusterStormBed({
    work: runDir,
    members: CONTROLLERS,
    nodeImage: images,
    cacheDir: CACHE,
    logPrefix: clusterLogPrefix,
    ...(MAX_LOADING !== undefined ? { maxLoading: MAX_LOADING } : {}),
    leasedSources: LEASED_SOURCES,
  });
  const procs: ChildProcess[] = [];
  const peaks = bed.members.map(() => 0);
  const sample = () => bed.members.forEach((m, k) => (peaks[k] = Math.max(peaks[k]!, readPeakRss(m.process.pid))));
  const sampler = setInterval(sample, 500);
  let scripts = 0;
  const kill: { at?: number } = {};
  let stormStart = Date.now();
  const onScripts = () => {
    if (++scripts === KILL_AT && kill.at === undefined) {
      sample();
      const killEpoch = (kill.at = bed.kill(0));
      process.stdout.write(
        `kill -9 of member 0 (${bed.members[0]!.url}) after ${scripts} machines had their per-host script, ${((killEpoch - stormStart) / 1000).toFixed(1)} s into the storm\n`,
      );
    }
  };
  try {
    process.stdout.write(
      `\nstorm: ${HOSTS} machines (${FIRMWARE}), ${LEASED_SOURCES ? 'each machine from its leased address' : 'every machine from one address'}, ${pacing ? `powered on through member ${CONTROLLERS - 1}'s power queue, pacing ${pacing},` : 'at once'} against ${CONTROLLERS} kiln serve on one PostgreSQL, ${SIM_PROCS} simulator process${SIM_PROCS > 1 ? 'es' : ''}${KILL_AT !== undefined ? `, kill -9 of member 0 at ${KILL_AT} per-host scripts` : ''}${images ? '' : ', no kernel/initrd downloads'}\n`,
    );
    let run: FleetRun;
    let power: StormResult['power'];
    if (pacing) {
      const b = CONTROLLERS - 1;
      const target: PowerTarget = {
        http: bed.members[b]!.url,
        // The store's first admin token: member 0 made it, and every member takes it (one store).
        token: readFileSync(join(runDir, 'member-0', 'admin-token'), 'utf8').trim(),
        webhookHost: `10.112.${b}.254`,
        logFile: `${clusterLogPrefix}${b}.log`,
      };
      await createPoweredHosts(target);
      const sims = await startSims({ relayOf: clusterRelay, addRelay: (k) => bed.addRelay(k) }, target.webhookHost, {
        target: bed.target,
        onScripts,
      });
      procs.push(...sims.procs);
      stormStart = Date.now();
      ({ run, power } = await powerBatch(pacing, target, sims));
    } else if (SIM_PROCS === 1) {
      stormStart = Date.now();
      run = await runFleet({
        hosts: HOSTS,
        parallel: PARALLEL,
        images,
        firmware: FIRMWARE,
        relay: clusterRelay(0),
        target: bed.target,
        maxBoots: 2,
        leasedSources: LEASED_SOURCES,
        onStage: (_i, stage) => {
          if (stage === 'scripts') onScripts();
        },
      });
    } else {
      if (PARALLEL < HOSTS) throw new Error('--sim-procs > 1 boots every machine at once: leave parallel at all');
      const sims = await startSims({ relayOf: clusterRelay, addRelay: (k) => bed.addRelay(k) }, undefined, {
        target: bed.target,
        onScripts,
      });
      procs.push(...sims.procs);
      stormStart = Date.now();
      for (const c of sims.procs) c.stdin!.write('go\n');
      run = await collectSims(sims.procs, sims.results, 60 * 60_000);
    }
    sample();
    const killEpoch = kill.at;
    const dead = killEpoch === undefined ? undefined : bed.members[0]!;
    const checks = await checkClusterStore(bed.databaseUrl, run.outcomes, dead?.url);
    return {
      run,
      rss: 0,
      peakRss: Math.max(...peaks),
      ...(power ? { power } : {}),
      cluster: {
        peakRssByMember: peaks,
        ...(dead && killEpoch !== undefined
          ? {
              kill: {
                afterScripts: KILL_AT!,
                secondsIntoStorm: (killEpoch - stormStart) / 1000,
                epoch: killEpoch,
                pause: pauseAfterKill(run.outcomes, dead.address, killEpoch),
                requests: requestsToDead(run.outcomes, dead.address),
              },
            }
          : {}),
        checks,
      },
    };
  } finally {
    clearInterval(sampler);
    for (const c of procs) if (c.exitCode === null) c.kill('SIGKILL');
    await bed.close();
  }
}

const pct = (xs: number[], p: number): number => {
  const s = [...xs].sort((x, y) => x - y);
  return s[Math.min(s.length - 1, Math.floor((s.length - 1) * p))] ?? 0;
};
const row = (name: string, xs: number[]) =>
  `${name.padEnd(28)} ${pct(xs, 0.5).toFixed(0).padStart(8)} ${pct(xs, 0.99).toFixed(0).padStart(8)} ${Math.max(
    0,
    ...xs,
  )
    .toFixed(0)
    .padStart(8)}`;

function report(r: StormResult): void {
  const { outcomes, wallSeconds: wall, lag } = r.run;
  const ok = outcomes.filter((o) => o.ok);
  const failed = outcomes.filter((o) => !o.ok);
  const retried = outcomes.filter((o) => o.retries > 0);
  const ts = ok.map((o) => o.t!);
  const totalBytes = outcomes.reduce((n, o) => n + o.bytes, 0);
  console.log(
    `\nBoot storm: ${HOSTS} simulated machines (firmware ${FIRMWARE}) ${r.power ? `powered on through the power queue (${r.power.pacing})` : `at once (parallel ${PARALLEL})`}, ${r.cluster ? `${CONTROLLERS} kiln serve on one PostgreSQL` : 'one kiln serve'}, ${SIM_PROCS} simulator process${SIM_PROCS > 1 ? 'es' : ''}, 2 cores`,
  );
  const retriedStages = new Map<string, number>();
  for (const o of outcomes) for (const st of o.retriedAt) retriedStages.set(st, (retriedStages.get(st) ?? 0) + 1);
  console.log(
    `machines booted to a discovery report: ${ok.length} / ${HOSTS}; failed: ${failed.length}; needed a retry: ${retried.length} (${((retried.length / HOSTS) * 100).toFixed(2)} %)${retried.length ? ` (${[...retriedStages].map(([st, n]) => `${st} ${n}`).join(', ')})` : ''}`,
  );
  if (r.power)
    console.log(
      `power batch: reply after ${r.power.batchSeconds.toFixed(1)} s, ${r.power.failedPowerOns} power-ons failed; batch start to last discovery report ${r.power.finishSeconds.toFixed(1)} s; admission ${JSON.stringify(r.power.admission)}`,
    );
  const mib = (b: number) => (b / 1024 / 1024).toFixed(0);
  console.log(
    `wall time ${wall.toFixed(1)} s; ${(ok.length / wall).toFixed(1)} machines/s; ${(totalBytes / 1024 / 1024 / wall).toFixed(0)} MiB/s of boot files; ${r.cluster ? `members' peak RSS ${r.cluster.peakRssByMember.map(mib).join(', ')} MiB` : `controller RSS after: ${mib(r.rss)} MiB, peak ${mib(r.peakRss)} MiB`}`,
  );
  if (r.cluster) reportCluster(r.cluster, outcomes);
  console.log(
    `simulator event-loop delay (worst process): p50 ${lag.p50.toFixed(0)} ms, p99 ${lag.p99.toFixed(0)} ms, max ${lag.max.toFixed(0)} ms`,
  );
  console.log(`\n${'stage (ms)'.padEnd(28)} ${'p50'.padStart(8)} ${'p99'.padStart(8)} ${'max'.padStart(8)}`);
  console.log(
    row(
      'firmware DHCP (DORA)',
      ts.map((t) => t.dhcp),
    ),
  );
  for (const fw of fleetFirmwares) {
    const xs = ok.filter((o) => o.firmware === fw).map((o) => o.t!.loader);
    if (xs.length)
      console.log(
        row({ bios: 'TFTP undionly.kpxe', 'uefi-pxe': 'TFTP ipxe.efi', 'uefi-http': 'HTTP HEAD+GET ipxe.efi' }[fw], xs),
      );
  }
  console.log(
    row(
      'iPXE DHCP (DORA)',
      ts.map((t) => t.ipxeDhcp),
    ),
  );
  console.log(
    row(
      '/boot.ipxe + per-host script',
      ts.map((t) => t.scripts),
    ),
  );
  console.log(
    row(
      'kernel + initrd',
      ts.map((t) => t.images),
    ),
  );
  console.log(
    row(
      'discovery report',
      ts.map((t) => t.report),
    ),
  );
  console.log(
    row(
      'whole boot',
      ts.map((t) => t.total),
    ),
  );
  if (FIRMWARE === 'mixed')
    for (const fw of fleetFirmwares)
      console.log(
        row(
          `whole boot, ${fw}`,
          ok.filter((o) => o.firmware === fw).map((o) => o.t!.total),
        ),
      );
  const reasons = new Map<string, number>();
  for (const f of failed) reasons.set(f.error ?? '?', (reasons.get(f.error ?? '?') ?? 0) + 1);
  for (const [why, n] of [...reasons].slice(0, 10)) console.log(`failure x${n}: ${why}`);
  if (reasons.size > 10) console.log(`… and ${reasons.size - 10} other failure messages`);
  if (failed.length) console.log(r.cluster ? `member logs: ${clusterLogPrefix}<k>.log` : `controller log: ${logFile}`);
}

/** The kill, the pause it caused, and the checks over the shared database, as a table. */
function reportCluster(c: NonNullable<StormResult['cluster']>, outcomes: FleetRun['outcomes']): void {
  const rebooted = outcomes.filter((o) => o.boots > 1).length;
  console.log(`machines that started a second boot (a boot failed): ${rebooted}`);
  if (c.kill) {
    const { affected, resumed, pausesMs } = c.kill.pause;
    console.log(
      `\nkill -9 of member 0 after ${c.kill.afterScripts} per-host scripts, ${c.kill.secondsIntoStorm.toFixed(1)} s into the storm: ${affected} machines had an exchange with it fail, ${resumed} of them progressed again`,
    );
    const q = c.kill.requests;
    console.log(
      `DHCPREQUESTs naming member 0: ${q.takenOver} ACKed by a live member in its place; never answered in the back-off: ${q.unanswered.firmware} firmware, ${q.unanswered.ipxe} iPXE`,
    );
    for (const x of q.samples)
      console.log(
        `  lost: ${x.mac} (${x.firmware}) ${x.what}, given up ${((x.at - c.kill.epoch) / 1000).toFixed(1)} s after the kill`,
      );
    console.log(
      `${'pause (ms, kill → next progress)'.padEnd(34)} ${'p50'.padStart(8)} ${'p99'.padStart(8)} ${'max'.padStart(8)}`,
    );
    if (pausesMs.length)
      console.log(
        `${`${resumed} machines`.padEnd(34)} ${pct(pausesMs, 0.5).toFixed(0).padStart(8)} ${pct(pausesMs, 0.99).toFixed(0).padStart(8)} ${Math.max(
          ...pausesMs,
        )
          .toFixed(0)
          .padStart(8)}`,
      );
  }
  console.log('\ncheck over the shared database: result');
  for (const x of c.checks) console.log(`${x.ok ? 'ok  ' : 'FAIL'} ${x.check}: ${x.found}`);
  if (c.checks.some((x) => !x.ok)) process.exitCode = 1;
}

const results: StormResult[] = [];
try {
  if (CONTROLLERS > 1)
    for (const pacing of PACINGS ?? [undefined]) {
      const r = await clusterStorm(pacing);
      results.push(r);
      report(r);
    }
  else
    for (const pacing of PACINGS ?? [undefined]) {
      const r = await storm(pacing);
      results.push(r);
      report(r);
    }
} finally {
  rmSync(work, { recursive: true, force: true });
}
if (results.length > 1) {
  console.log(
    `\n${'pacing'.padEnd(10)} ${'finish s'.padStart(9)} ${'retried %'.padStart(10)} ${'failed'.padStart(7)} ${'boot p50 s'.padStart(11)} ${'boot p99 s'.padStart(11)}`,
  );
  for (const r of results) {
    const ok = r.run.outcomes.filter((o) => o.ok).map((o) => o.t!.total / 1000);
    const retried = r.run.outcomes.filter((o) => o.retries > 0).length;
    console.log(
      `${(r.power?.pacing ?? 'at once').padEnd(10)} ${(r.power?.finishSeconds ?? r.run.wallSeconds).toFixed(1).padStart(9)} ${((retried / HOSTS) * 100).toFixed(2).padStart(10)} ${String(HOSTS - ok.length).padStart(7)} ${pct(ok, 0.5).toFixed(1).padStart(11)} ${pct(ok, 0.99).toFixed(1).padStart(11)}`,
    );
  }
}

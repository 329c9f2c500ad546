// Host list at scale (docs/inventory.md, "Host list at 100 000 hosts"): fills
// N hosts (default 100 000) straight through the store's putHost in batched
// transactions (not the API), with NICs, tags, labels, states, profiles and
// discovery facts, starts a real `kiln serve` pinned to CPU 0 and drives each
// documented list filter with wrk (50 connections, pages of 100) pinned to
// CPU 1, then times `kiln host list --all` (also on CPU 1). Prints pages/s,
// p50 and p99 beside the rows that match, for SQLite and for PostgreSQL (a
// throw-away database on the local server; the server itself is not pinned),
// and the server's own CPU time per page (from /proc: steadier than latency on
// a shared machine; on PostgreSQL the database's CPU is not in it: it is the
// `db ms/p` column, the CPU of the backends serving the controller's pool).
// Every process started here is stopped by its PID; every wait is bounded.
//
// Run: npm run build && npx tsx bench/inventory.bench.ts
//   [--hosts=100000] [--duration=8] [--engines=sqlite,postgres] [--tree=DIR]
//   [--node-flags="FLAG ..."] (Node flags for the controller) [--server-out=FILE] (its stdout, to FILE.<engine>)
// --tree: the Kiln checkout whose dist/ is measured (store code for the fill and
// bin/kiln.mjs), e.g. a main worktree for before/after figures; filters that tree
// does not know (label; prefix= was name_prefix=) are skipped or respelt.
import { spawn, spawnSync } from 'node:child_process';
import { mkdtempSync, openSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { pathToFileURL } from 'node:url';
import { sql, type Kysely } from 'kysely';
import pgModule from 'pg';
import type { Database } from '../src/schema.js';
import { createTempPostgres } from '../test/support/postgres.js';
import { freePort } from '../test/support/serve-process.js';

const arg = (name: string, dflt: string) =>
  process.argv.find((a) => a.startsWith(`--${name}=`))?.slice(name.length + 3) ?? dflt;
const HOSTS = Number(arg('hosts', '100000'));
const DURATION = Number(arg('duration', '8'));
const ENGINES = arg('engines', 'sqlite,postgres').split(',');
const TREE = resolve(arg('tree', join(import.meta.dirname, '..')));
/** Extra Node flags for the controller, space-separated (e.g. `--node-flags=--import=bench/loop-probe.mjs`). */
const NODE_FLAGS = arg('node-flags', '').split(' ').filter(Boolean);
/** Where the controller's stdout goes (FILE.sqlite, FILE.postgres); default: nowhere. */
const SERVER_OUT = arg('server-out', '');
const RACK = 2000;
const START_TIMEOUT_MS = 120_000;

type StoreModule = typeof import('../src/store/database.js');
type MigrateModule = typeof import('../src/store/migrate.js');
type HostStoreModule = typeof import('../src/inventory/sql-host-store.js');
const load = async <T>(rel: string) => (await import(pathToFileURL(join(TREE, 'dist', rel)).href)) as T;
const store = await load<StoreModule>('src/store/database.js');
const { migrateToLatest } = await load<MigrateModule>('src/store/migrate.js');
const hostStore = await load<Partial<HostStoreModule> & Pick<HostStoreModule, 'putHost' | 'renderStaleDocs'>>(
  'src/inventory/sql-host-store.js',
);
const { putHost } = hostStore;
type StoredHost = Parameters<typeof putHost>[1];

const hex = (n: number) => (n & 255).toString(16).padStart(2, '0');
const pad = (n: number, w: number) => String(n).padStart(w, '0');
const states = ['failed', 'new', 'discovering', 'ready', 'deploying', 'deployed'] as const;
// Out of 100 hosts: 2 failed, 3 new, 2 discovering, 38 ready, 2 deploying, 53 deployed.
const stateOf = (i: number) => {
  const m = i % 100;
  return states[m < 2 ? 0 : m < 5 ? 1 : m < 7 ? 2 : m < 45 ? 3 : m < 47 ? 4 : 5];
};
const profiles = ['debian-12', 'debian-12', 'debian-12', 'debian-12', 'ubuntu-24.04', 'ubuntu-24.04', 'rocky-9'];

/** Host i: rack i/2000 + 1 (tag rackN, label rack=rNN), names node-NNNNNN in rack order, two NICs. */
function hostAt(i: number, at: string): StoredHost {
  const rack = 1 + Math.floor(i / RACK);
  const state = stateOf(i);
  const enrolled = state !== 'new' && state !== 'discovering';
  const serial = `SVC${pad(i, 7)}`;
  return {
    id: `00000000-0000-4000-8000-${pad(i, 12)}`,
    name: `node-${pad(i, 6)}`,
    state,
    stateReason: state === 'failed' ? 'disk error' : null,
    failedStage: state === 'failed' ? 'install' : null,
    profile: enrolled ? profiles[i % profiles.length]! : null,
    firmware: i % 4 === 0 ? 'bios' : 'uefi',
    nics: [
      {
        mac: `52:54:00:${hex(i >> 16)}:${hex(i >> 8)}:${hex(i)}` as StoredHost['nics'][0]['mac'],
        name: 'eno1',
        boot: true,
      },
      {
        mac: `52:55:00:${hex(i >> 16)}:${hex(i >> 8)}:${hex(i)}` as StoredHost['nics'][0]['mac'],
        name: 'eno2',
        boot: false,
      },
    ],
    tags: [`rack${rack}`, ...(i % 20 === 0 ? ['gpu'] : []), ...(i % 3 === 0 ? ['prod'] : [])].sort(),
    labels: { rack: `r${pad(rack, 2)}`, room: `hall-${'abcd'[rack % 4]}`, owner: `team-${i % 7}` },
    facts: enrolled
      ? {
          system: { vendor: 'Dell Inc.', product: 'PowerEdge R650', serial },
          cpu: { model: 'Intel(R) Xeon(R) Gold 6338 CPU @ 2.00GHz', sockets: 2, cores: 64, threads: 128 },
          memoryMiB: 524288,
          disks: [
            { name: 'nvme0n1', sizeBytes: 3840755982336, model: 'SAMSUNG MZQL23T8HCLS-00A07', serial: `S64H${serial}` },
            { name: 'nvme1n1', sizeBytes: 3840755982336, model: 'SAMSUNG MZQL23T8HCLS-00A07', serial: `S65H${serial}` },
          ],
          nics: [
            { name: 'eno1', mac: `52:54:00:${hex(i >> 16)}:${hex(i >> 8)}:${hex(i)}`, speedMbps: 25000 },
            { name: 'eno2', mac: `52:55:00:${hex(i >> 16)}:${hex(i >> 8)}:${hex(i)}`, speedMbps: 25000 },
          ],
          bios: { vendor: 'Dell Inc.', version: '1.10.2' },
        }
      : {},
    hardwareHash: enrolled ? `sha256:${pad(i, 64)}` : null,
    needsAttention: false,
    // A BMC on loopback (nothing answers there) and the power poller off: the bench sends nothing off the machine.
    bmc: { driver: 'ipmi', address: '127.0.0.1', username: 'root', hasPassword: false, options: {} },
    bmcPasswordSealed: null,
    version: 1,
    createdAt: at,
    updatedAt: at,
  };
}

/**
 * Fills `HOSTS` hosts in transactions of 1000 (on PostgreSQL four at a time)
 * through the store's bulk insertHosts, or putHost per host in trees without it.
 */
async function fill(db: Kysely<Database>, parallel: number): Promise<number> {
  const t0 = performance.now();
  const at = new Date().toISOString();
  const BATCH = 1000;
  let next = 0;
  await Promise.all(
    Array.from({ length: parallel }, async () => {
      while (next < HOSTS) {
        const from = next;
        next = Math.min(HOSTS, next + BATCH);
        const to = next;
        await db.transaction().execute(async (trx) => {
          const batch = Array.from({ length: to - from }, (_, k) => hostAt(from + k, at));
          if (hostStore.insertHosts) await hostStore.insertHosts(trx, batch);
          else for (const h of batch) await putHost(trx, h);
        });
      }
    }),
  );
  return (HOSTS / (performance.now() - t0)) * 1000;
}

interface Case {
  name: string;
  query: string;
  rows: number;
  /** Needs the label filter (not on trees from before migration 0340). */
  label?: boolean;
  /** Queries wrk rotates through (one per request, in turn) instead of repeating `query`. */
  rotate?: string[];
}

function cases(): Case[] {
  const count = (p: (i: number) => boolean) => {
    let n = 0;
    for (let i = 0; i < HOSTS; i++) if (p(i)) n++;
    return n;
  };
  const rack7 = (i: number) => Math.floor(i / RACK) === 6;
  const deep = Math.floor(HOSTS * 0.9);
  return [
    { name: 'unfiltered', query: '', rows: HOSTS },
    // Every page of a walk in turn: more pages than the page cache holds, so each one is read from the store.
    {
      name: 'walk: 1000 pages in turn',
      query: '',
      rows: HOSTS,
      rotate: Array.from({ length: Math.min(1000, Math.ceil(HOSTS / 100)) }, (_, k) =>
        k === 0 ? '' : `after=node-${pad(k * 100 - 1, 6)}`,
      ),
    },
    { name: 'unfiltered, page at 90 %', query: `after=node-${pad(deep, 6)}`, rows: HOSTS - deep - 1 },
    { name: 'state=ready', query: 'state=ready', rows: count((i) => stateOf(i) === 'ready') },
    { name: 'state=failed', query: 'state=failed', rows: count((i) => stateOf(i) === 'failed') },
    { name: 'tag=rack7', query: 'tag=rack7', rows: count(rack7) },
    { name: 'tag=gpu', query: 'tag=gpu', rows: count((i) => i % 20 === 0) },
    { name: 'label rack=r07', query: 'label=rack%3Dr07', rows: count(rack7), label: true },
    { name: 'label owner=team-3', query: 'label=owner%3Dteam-3', rows: count((i) => i % 7 === 3), label: true },
    { name: 'mac', query: `mac=52:54:00:00:30:39`, rows: HOSTS > 12345 ? 1 : 0 },
    { name: 'prefix node-07', query: 'prefix=node-07', rows: count((i) => pad(i, 6).startsWith('07')) },
    {
      name: 'profile=rocky-9',
      query: 'profile=rocky-9',
      rows: count((i) => !['new', 'discovering'].includes(stateOf(i)) && profiles[i % profiles.length] === 'rocky-9'),
    },
    {
      name: 'state=ready&tag=rack7',
      query: 'state=ready&tag=rack7',
      rows: count((i) => rack7(i) && stateOf(i) === 'ready'),
    },
  ];
}

/** wrk's figures: requests/s and latency percentiles in ms; `errors` counts non-2xx answers and socket errors (timeouts: answers slower than --timeout, left out of wrk's percentiles). */
function parseWrk(out: string): { rps: number; p50: number; p99: number; errors: number } {
  const ms = (v: string, unit: string) => Number(v) * ({ us: 0.001, ms: 1, s: 1000, m: 60_000 } as const)[unit as 'ms'];
  const pct = (p: string) => {
    const m = new RegExp(`^\\s+${p}%\\s+([\\d.]+)(us|ms|s|m)\\s*$`, 'm').exec(out);
    return m ? ms(m[1]!, m[2]!) : NaN;
  };
  const non2xx = /Non-2xx or 3xx responses: (\d+)/.exec(out);
  const sock = /Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)/.exec(out);
  return {
    rps: Number(/Requests\/sec:\s+([\d.]+)/.exec(out)?.[1] ?? NaN),
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

/**
 * CPU time (ms) so far of the PostgreSQL backends serving database `name` (the controller's pool), by backend
 * PID; read from /proc, so only for a server on this machine. The database's own share of a page, which the
 * controller's figure leaves out.
 */
async function backendCpu(admin: pgModule.Client, name: string): Promise<Map<number, number>> {
  const { rows } = await admin.query<{ pid: number }>(
    'select pid from pg_stat_activity where datname = $1 and pid <> pg_backend_pid()',
    [name],
  );
  const out = new Map<number, number>();
  for (const { pid } of rows) {
    try {
      out.set(pid, cpuMs(pid));
    } catch {
      // The backend ended between the query and the read: its time is not counted.
    }
  }
  return out;
}

/** The backends' CPU between two readings (a backend that started in between counts from zero). */
function cpuSince(before: Map<number, number>, after: Map<number, number>): number {
  let ms = 0;
  for (const [pid, t] of after) ms += t - (before.get(pid) ?? 0);
  return ms;
}

/** A case's query as the store's filter (the API's spelling: prefix, label=key=value). */
function filterOf(query: string): Parameters<NonNullable<HostStoreModule['pageQuery']>>[1] {
  const q = new URLSearchParams(query);
  const label = q.get('label');
  const at = label?.indexOf('=') ?? -1;
  return {
    state: (q.get('state') ?? undefined) as never,
    tag: q.get('tag') ?? undefined,
    label: label && at > 0 ? { key: label.slice(0, at), value: label.slice(at + 1) } : undefined,
    mac: (q.get('mac') ?? undefined) as never,
    namePrefix: q.get('prefix') ?? undefined,
    profile: q.get('profile') ?? undefined,
    after: q.get('after') ?? undefined,
    limit: 101,
  };
}

/**
 * PostgreSQL's plan for each case's first page (EXPLAIN, after ANALYZE): its top node, and whether it scans a
 * whole table or sorts (it should do neither: docs/inventory.md). Trees without `pageQuery` print nothing.
 */
async function explainPages(db: Kysely<Database>): Promise<string[]> {
  if (!hostStore.pageQuery) return [];
  const out = ['PostgreSQL plans of the first page (EXPLAIN):'];
  for (const c of cases()) {
    const lines = (await hostStore.pageQuery(db, filterOf(c.query)).explain()).map((r) => String(Object.values(r)[0]));
    const scan = lines.some((l) => /Seq Scan/.test(l)) ? 'SEQ SCAN' : 'no seq scan';
    const sort = lines.some((l) => /\bSort\b/.test(l)) ? 'SORT' : 'no sort';
    const nodes = lines
      .filter((l) => /Index|Scan|Join|Nested/.test(l))
      .map((l) => l.trim().replace(/\s+\(cost.*$/, ''));
    out.push(`  ${c.name.padEnd(26)} ${scan}, ${sort}: ${nodes.join(' / ').slice(0, 200)}`);
  }
  return out;
}

/** A Lua script for wrk that fetches `paths` in rotation (one Lua state per wrk thread; -t1). */
function rotationScript(paths: string[]): string {
  const list = paths.map((p) => `  "${p}",`).join('\n');
  return `local paths = {\n${list}\n}\nlocal i = 0\nrequest = function()\n  i = i + 1\n  if i > #paths then i = 1 end\n  return wrk.format("GET", paths[i])\nend\n`;
}

function runWrk(url: string, token: string, lua?: string): ReturnType<typeof parseWrk> {
  const r = spawnSync(
    'taskset',
    [
      '-c',
      '1',
      'wrk',
      '-t1',
      '-c50',
      `-d${DURATION}s`,
      '--timeout',
      '10s',
      '--latency',
      '-H',
      `Authorization: Bearer ${token}`,
      ...(lua ? ['-s', lua] : []),
      url,
    ],
    { encoding: 'utf8', timeout: (DURATION + 60) * 1000 },
  );
  if (r.status !== 0) throw new Error(`wrk failed: ${r.stderr}${r.stdout}`);
  return parseWrk(r.stdout);
}

/** Times `kiln host list --all [--json]` on CPU 1 and counts the hosts it printed (streamed, not kept). */
async function timeCliAll(url: string, token: string, json: boolean): Promise<{ seconds: number; hosts: number }> {
  const args = [
    '-c',
    '1',
    process.execPath,
    join(TREE, 'bin/kiln.mjs'),
    'host',
    'list',
    '--all',
    ...(json ? ['--json'] : []),
  ];
  const t0 = performance.now();
  const child = spawn('taskset', args, {
    env: { ...process.env, KILN_SERVER: url, KILN_TOKEN: token },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  const timer = setTimeout(() => child.kill('SIGKILL'), 300_000);
  let lines = 0;
  let tail = '';
  let err = '';
  // JSON: one host starts at each line "  {"; table: every line but the header.
  child.stdout.setEncoding('utf8').on('data', (d: string) => {
    const parts = (tail + d).split('\n');
    tail = parts.pop()!;
    lines += json ? parts.filter((l) => l === '  {').length : parts.length;
  });
  child.stderr.setEncoding('utf8').on('data', (d: string) => (err += d));
  const code = await new Promise<number | null>((r) => child.once('exit', r));
  clearTimeout(timer);
  if (code !== 0) throw new Error(`kiln host list --all exited ${code}: ${err}`);
  if (!json && tail) lines++;
  return { seconds: (performance.now() - t0) / 1000, hosts: json ? lines : lines - 1 };
}

async function serve(dataDir: string, databaseUrl?: string) {
  const [port, tlsPort] = [await freePort(), await freePort()];
  const child = spawn(
    'taskset',
    [
      '-c',
      '0',
      process.execPath,
      ...NODE_FLAGS,
      join(TREE, 'bin/kiln.mjs'),
      'serve',
      '--data-dir',
      dataDir,
      '--listen',
      `127.0.0.1:${port}`,
      '--tls-listen',
      `127.0.0.1:${tlsPort}`,
      '--node-image',
      'off',
      '--power-poll-interval',
      '0',
      ...(databaseUrl ? ['--database-url', databaseUrl] : []),
    ],
    {
      stdio: [
        'ignore',
        SERVER_OUT ? openSync(`${SERVER_OUT}.${databaseUrl ? 'postgres' : 'sqlite'}`, 'w') : 'ignore',
        'pipe',
      ],
    },
  );
  let err = '';
  child.stderr!.setEncoding('utf8').on('data', (d: string) => (err = (err + d).slice(-4000)));
  const url = `http://127.0.0.1:${port}`;
  const deadline = Date.now() + START_TIMEOUT_MS;
  for (;;) {
    if (child.exitCode !== null) throw new Error(`kiln serve exited early: ${err}`);
    if (Date.now() > deadline) {
      child.kill('SIGKILL');
      throw new Error(`kiln serve did not answer in ${START_TIMEOUT_MS} ms: ${err}`);
    }
    const ok = await fetch(`${url}/api/v1/health`, { signal: AbortSignal.timeout(1000) }).then(
      (r) => r.ok,
      () => false,
    );
    if (ok) break;
    await new Promise((r) => setTimeout(r, 200));
  }
  const stop = async () => {
    child.kill('SIGTERM');
    const exited = new Promise((r) => child.once('exit', r));
    await Promise.race([exited, new Promise((r) => setTimeout(r, 15_000))]);
    if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
  };
  // taskset execs node: the child's PID is the server's.
  return { url, pid: child.pid!, token: readFileSync(join(dataDir, 'admin-token'), 'utf8').trim(), stop };
}

async function bench(engine: string): Promise<void> {
  const dataDir = mkdtempSync(join(tmpdir(), 'kiln-inv-bench-'));
  const pg = engine === 'postgres' ? await createTempPostgres('invbench') : undefined;
  try {
    const o = pg
      ? await store.openDatabase({ dataDir, databaseUrl: pg.url })
      : store.openSqlite(join(dataDir, 'kiln.sqlite'));
    await migrateToLatest(o.db);
    const perSecond = await fill(o.db, pg ? 4 : 1);
    // A database in service has planner statistics (autovacuum); right after a bulk load it may not yet,
    // and PostgreSQL then sorts a combined filter's matches instead of walking the tag index (7.5 vs 0.6 ms).
    if (pg) await sql`analyze`.execute(o.db);
    const plans = pg ? await explainPages(o.db) : [];
    // What every `kiln serve` start does in the background: look for hosts whose list document is stale (none here).
    const s0 = performance.now();
    const rendered = await hostStore.renderStaleDocs(o.db);
    const staleMs = performance.now() - s0;
    await o.close();
    console.log(`\n${engine}: ${HOSTS} hosts filled through the store at ${Math.round(perSecond)} hosts/s (${TREE})`);
    console.log(`start-up stale-document search: ${rendered} rendered in ${staleMs.toFixed(1)} ms`);
    for (const p of plans) console.log(p);
    const s = await serve(dataDir, pg?.url);
    // On PostgreSQL a connection of its own reads which backends serve the controller (their CPU per page).
    const dbName = pg ? new URL(pg.url).pathname.slice(1) : '';
    const admin = pg ? new pgModule.Client({ connectionString: pg.url }) : undefined;
    await admin?.connect();
    try {
      const get = (q: string) =>
        fetch(`${s.url}/api/v1/hosts?limit=100${q ? `&${q}` : ''}`, {
          headers: { authorization: `Bearer ${s.token}` },
        });
      // Trees from before the label filter and the prefix= spelling: skip label, say name_prefix.
      const hasLabel = (await get('label=rack%3Dr07')).status === 200;
      const prefixParam = (await get('prefix=node-')).status === 200 ? 'prefix' : 'name_prefix';
      console.log(
        `${'filter'.padEnd(26)} ${'rows'.padStart(7)} ${'pages/s'.padStart(8)} ${'p50 ms'.padStart(8)} ${'p99 ms'.padStart(8)} ${'cpu ms/p'.padStart(9)}${pg ? ` ${'db ms/p'.padStart(8)}` : ''}  errors`,
      );
      for (const c of cases()) {
        if (c.label && !hasLabel) {
          console.log(`${c.name.padEnd(26)} ${String(c.rows).padStart(7)}  (no label filter in this tree)`);
          continue;
        }
        const query = c.query.replace(/^prefix=/, `${prefixParam}=`);
        const first = await get(query);
        const body = (await first.json()) as { items: unknown[] };
        const want = Math.min(100, c.rows);
        if (first.status !== 200 || body.items.length !== want)
          throw new Error(
            `${c.name}: status ${first.status}, ${body.items?.length} hosts on the first page, want ${want}`,
          );
        let lua: string | undefined;
        if (c.rotate) {
          lua = join(dataDir, 'rotate.lua');
          writeFileSync(lua, rotationScript(c.rotate.map((q) => `/api/v1/hosts?limit=100${q ? `&${q}` : ''}`)));
        }
        const cpu0 = cpuMs(s.pid);
        const db0 = admin ? await backendCpu(admin, dbName) : undefined;
        const w = runWrk(`${s.url}/api/v1/hosts?limit=100${query ? `&${query}` : ''}`, s.token, lua);
        const cpuPerPage = (cpuMs(s.pid) - cpu0) / (w.rps * DURATION);
        const dbPerPage = admin && db0 ? cpuSince(db0, await backendCpu(admin, dbName)) / (w.rps * DURATION) : null;
        console.log(
          `${c.name.padEnd(26)} ${String(c.rows).padStart(7)} ${w.rps.toFixed(0).padStart(8)} ${w.p50.toFixed(2).padStart(8)} ${w.p99.toFixed(2).padStart(8)} ${cpuPerPage.toFixed(2).padStart(9)}${dbPerPage !== null ? ` ${dbPerPage.toFixed(2).padStart(8)}` : ''}  ${w.errors}`,
        );
      }
      for (const json of [false, true]) {
        const r = await timeCliAll(s.url, s.token, json);
        console.log(`kiln host list --all${json ? ' --json' : ''}: ${r.hosts} hosts in ${r.seconds.toFixed(2)} s`);
      }
    } finally {
      await admin?.end();
      await s.stop();
    }
  } finally {
    await pg?.drop();
    rmSync(dataDir, { recursive: true, force: true });
  }
}

console.log(
  `inventory bench: ${HOSTS} hosts, wrk -t1 -c50 -d${DURATION}s --timeout 10s (taskset -c 1), kiln serve on taskset -c 0, pages of 100; ${new Date().toISOString()}`,
);
for (const engine of ENGINES) await bench(engine);

// Web UI pages at fleet size: fills N hosts (default 10 000) straight through
// the store's putHost in batched transactions, then times each page a user
// opens, in process through the app (as the browser's request reaches it:
// session cookie → UI route → API calls under the session → HTML): overview,
// host list first and next page with each filter, one host page. Prints the
// median and p95 of `runs` requests per page, one request at a time.
//
// Run: npx tsx bench/ui.bench.ts [--hosts=10000] [--runs=30]
import { performance } from 'node:perf_hooks';
import { openSqlite } from '../src/store/database.js';
import { migrateToLatest } from '../src/store/migrate.js';
import { putHost } from '../src/inventory/sql-host-store.js';
import { createTestController } from '../test/support/controller.js';

const arg = (name: string, dflt: string) =>
  process.argv.find((a) => a.startsWith(`--${name}=`))?.slice(name.length + 3) ?? dflt;
const HOSTS = Number(arg('hosts', '10000'));
const RUNS = Number(arg('runs', '30'));
const hex = (n: number) => (n & 255).toString(16).padStart(2, '0');
const pad = (n: number, w: number) => String(n).padStart(w, '0');
const states = ['failed', 'new', 'discovering', 'ready', 'deploying', 'deployed'] as const;
type StoredHost = Parameters<typeof putHost>[1];

function hostAt(i: number, at: string): StoredHost {
  const state = states[i % 100 < 2 ? 0 : i % 100 < 5 ? 1 : i % 100 < 7 ? 2 : i % 100 < 45 ? 3 : i % 100 < 47 ? 4 : 5];
  const mac = `52:54:00:${hex(i >> 16)}:${hex(i >> 8)}:${hex(i)}` as StoredHost['nics'][0]['mac'];
  return {
    id: `00000000-0000-4000-8000-${pad(i, 12)}`,
    name: `node-${pad(i, 6)}`,
    state,
    stateReason: state === 'failed' ? 'disk error' : null,
    failedStage: state === 'failed' ? 'install' : null,
    profile: 'debian-12',
    firmware: 'uefi',
    nics: [{ mac, name: 'eno1', boot: true }],
    tags: [`rack${1 + Math.floor(i / 500)}`, ...(i % 20 === 0 ? ['gpu'] : [])],
    labels: { owner: `team-${i % 7}` },
    facts: { system: { vendor: 'Dell Inc.', serial: `SVC${pad(i, 7)}` }, cpu: { cores: 64 } },
    hardwareHash: `sha256:${pad(i, 16)}`,
    needsAttention: state === 'failed',
    bmc: null,
    bmcPasswordSealed: null,
    version: 1,
    createdAt: at,
    updatedAt: at,
  };
}

const store = openSqlite(':memory:');
await migrateToLatest(store.db);
const at = new Date().toISOString();
for (let i = 0; i < HOSTS; i += 1000) {
  await store.db.transaction().execute(async (trx) => {
    for (let j = i; j < Math.min(HOSTS, i + 1000); j++) await putHost(trx, hostAt(j, at));
  });
}
const c = await createTestController({ db: store.db });
const password = 'correct horse battery staple';
await c.users.create({ name: 'bench', role: 'operator', password }, 'bench');
const login = await c.app.inject({
  method: 'POST',
  url: '/ui/login',
  headers: { 'content-type': 'application/x-www-form-urlencoded' },
  payload: `name=bench&password=${encodeURIComponent(password)}`,
});
const cookie = String(login.headers['set-cookie']).split(';')[0];
const first = await c.app.inject({ url: '/ui/hosts?state=ready', headers: { cookie, accept: 'text/html' } });
const next = /rel="next" href="([^"]+)"/.exec(first.body)![1].replace(/&amp;/g, '&');
const pages = [
  '/',
  '/ui/hosts',
  '/ui/hosts?state=ready',
  next,
  '/ui/hosts?tag=gpu',
  '/ui/hosts?prefix=node-0042',
  `/ui/hosts?mac=52:54:00:00:1f:40`,
  '/ui/hosts?attention=true',
  '/ui/hosts/node-004242',
];
console.log(`${HOSTS} hosts, ${RUNS} runs per page (ms)`);
for (const url of pages) {
  const t: number[] = [];
  let rows = 0;
  for (let r = 0; r < RUNS; r++) {
    const s = performance.now();
    const res = await c.app.inject({ url, headers: { cookie, accept: 'text/html' } });
    t.push(performance.now() - s);
    if (res.statusCode !== 200) throw new Error(`${url}: ${res.statusCode} ${res.body.slice(0, 200)}`);
    rows = (res.body.match(/<tr data-host=/g) ?? []).length;
  }
  t.sort((a, b) => a - b);
  const p = (q: number) => t[Math.min(t.length - 1, Math.floor(q * t.length))].toFixed(1);
  console.log(`${url.padEnd(60)} p50 ${p(0.5).padStart(6)}  p95 ${p(0.95).padStart(6)}  rows ${rows}`);
}
await c.close();

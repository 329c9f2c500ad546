// Syslog flood: the same stream of RFC 3164 lines, 50 000 a second for a few
// seconds, sent over a veth pair at `kiln serve` (in its own network
// namespace: DHCP full mode behind a relay, TFTP, HTTP, syslog on UDP 514)
// and then at Debian's rsyslogd (in a second namespace, imudp to a plain
// file, config generated here). Printed side by side: lines sent, stored,
// dropped (the kernel's receive-buffer drops in the receiver's namespace, and
// the receiver's own), and the ingest rate. During Kiln's flood, DHCP
// (relayed DISCOVER → OFFER), TFTP (RRQ → first DATA) and HTTP
// (GET /api/v1/health) are probed every 100 ms; their latency is printed
// beside the same probes before the flood.
//
// Kiln stores each line decoded and attributed (SQLite log store, one row per
// line with host, session, severity…); rsyslog appends a formatted line to a
// file. The comparison is "what each does by default with the same input".
// The sender runs in a worker thread of this process (root namespace).
//
// Run as root, after `npm run build`: npx tsx bench/syslog-flood.bench.ts [rate=50000] [seconds=5]
import { execFileSync, type ChildProcess } from 'node:child_process';
import { createSocket } from 'node:dgram';
import { mkdirSync, mkdtempSync, rmSync, statSync, readFileSync, writeFileSync } from 'node:fs';
import { cpus, tmpdir } from 'node:os';
import { join } from 'node:path';
import { Worker } from 'node:worker_threads';
import BetterSqlite3 from 'better-sqlite3';
import { createNetns, type TestNetns } from '../test/support/netns.js';
import { stopChild } from '../test/support/process.js';
import { STORM_HTTP, STORM_RELAY, STORM_SERVER, startStormBed } from '../test/support/storm-bed.js';
import { BootpOp, DhcpMessageType, DhcpOption } from '../src/protocols/dhcp4/codes.js';
import { decodeDhcp, encodeDhcp } from '../src/protocols/dhcp4/packet.js';

const args = process.argv.slice(2);
const RATE = Math.max(1000, Math.min(200_000, Number(args[0] ?? 50_000)));
const SECONDS = Math.max(1, Math.min(60, Number(args[1] ?? 5)));
const RSYSLOG_ADDR = '10.63.0.1';
const RSYSLOG_SENDER = '10.63.0.254';

const work = mkdtempSync(join(tmpdir(), 'kiln-syslog-flood-'));
const children: ChildProcess[] = [];
const namespaces: TestNetns[] = [];
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** One line of the flood: same text for both receivers. */
const SENDER_CODE = `
const { parentPort, workerData } = require('node:worker_threads');
const dgram = require('node:dgram');
const { from, to, rate, seconds } = workerData;
const sock = dgram.createSocket('udp4');
let sent = 0, errors = 0;
sock.on('error', () => errors++);
sock.bind(0, from, () => sock.connect(514, to, () => {
  const total = rate * seconds;
  const t0 = process.hrtime.bigint();
  const pad = 'x'.repeat(60);
  const tick = () => {
    const elapsed = Number(process.hrtime.bigint() - t0) / 1e9;
    const due = Math.min(total, Math.floor(rate * elapsed));
    while (sent < due) {
      const line = '<134>Dec  6 08:00:00 flood1 app[7]: flood line ' + sent + ' ' + pad;
      sock.send(line, (err) => { if (err) errors++; });
      sent++;
    }
    if (sent < total) setTimeout(tick, 2);
    else setTimeout(() => {
      const secs = Number(process.hrtime.bigint() - t0) / 1e9;
      parentPort.postMessage({ sent, errors, secs });
      sock.close();
    }, 200);
  };
  tick();
}));
`;

function flood(from: string, to: string): Promise<{ sent: number; errors: number; secs: number }> {
  const w = new Worker(SENDER_CODE, { eval: true, workerData: { from, to, rate: RATE, seconds: SECONDS } });
  return new Promise((resolve, reject) => {
    w.once('message', (m: { sent: number; errors: number; secs: number }) => {
      void w.terminate();
      resolve(m);
    });
    w.once('error', reject);
  });
}

/** The namespace's UDP counters (its own /proc/net/snmp). */
function udpCounters(ns: TestNetns): { inDatagrams: number; rcvbufErrors: number; inErrors: number } {
  const lines = ns
    .exec('cat', ['/proc/net/snmp'])
    .split('\n')
    .filter((l) => l.startsWith('Udp:'));
  const names = lines[0].split(/\s+/);
  const vals = lines[1].split(/\s+/).map(Number);
  const get = (n: string) => vals[names.indexOf(n)];
  return { inDatagrams: get('InDatagrams'), rcvbufErrors: get('RcvbufErrors'), inErrors: get('InErrors') };
}

/** Polls `count` every 100 ms until it has not grown for 2 s (bounded: 120 s); gives the count and when it last grew. */
async function settle(count: () => number, t0: number): Promise<{ stored: number; lastGrowthMs: number }> {
  let last = -1;
  let lastGrowth = performance.now();
  for (let i = 0; i < 1200; i++) {
    const n = count();
    if (n !== last) {
      last = n;
      lastGrowth = performance.now();
    } else if (performance.now() - lastGrowth > 2000) break;
    await sleep(100);
  }
  return { stored: last, lastGrowthMs: lastGrowth - t0 };
}

/** Resident memory (KiB) of the process in namespace `ns` whose command line contains `needle` (0 when none). */
function rssOf(ns: TestNetns, needle: string): number {
  const pids = execFileSync('ip', ['netns', 'pids', ns.name], { encoding: 'utf8' }).split('\n').filter(Boolean);
  for (const pid of pids) {
    try {
      if (!readFileSync(`/proc/${pid}/cmdline`, 'utf8').includes(needle)) continue;
      return Number(/VmRSS:\s+(\d+)/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'))?.[1] ?? 0);
    } catch {
      /* gone */
    }
  }
  return 0;
}

// --- probes ---------------------------------------------------------------

interface ProbeSet {
  dhcp: number[];
  tftp: number[];
  http: number[];
  lost: { dhcp: number; tftp: number; http: number };
}

async function probeDhcp(sock: ReturnType<typeof createSocket>, waiters: Map<number, () => void>, i: number) {
  const xid = (0x5100_0000 + i) >>> 0;
  const chaddr = new Uint8Array(16);
  chaddr.set([0x52, 0x54, 0x00, 0x51, (i >> 8) & 0xff, i & 0xff]);
  const pkt = encodeDhcp({
    op: BootpOp.request,
    htype: 1,
    hlen: 6,
    hops: 1,
    xid,
    secs: 0,
    flags: 0,
    ciaddr: '0.0.0.0',
    yiaddr: '0.0.0.0',
    siaddr: '0.0.0.0',
    giaddr: STORM_RELAY,
    chaddr,
    sname: '',
    file: '',
    options: [{ code: DhcpOption.messageType, data: new Uint8Array([DhcpMessageType.discover]) }],
  });
  const t0 = performance.now();
  return new Promise<number | null>((resolve) => {
    const timer = setTimeout(() => {
      waiters.delete(xid);
      resolve(null);
    }, 2000);
    waiters.set(xid, () => {
      clearTimeout(timer);
      waiters.delete(xid);
      resolve(performance.now() - t0);
    });
    sock.send(pkt, 67, STORM_SERVER);
  });
}

function probeTftp(): Promise<number | null> {
  const sock = createSocket('udp4');
  const t0 = performance.now();
  return new Promise((resolve) => {
    const done = (v: number | null) => {
      clearTimeout(timer);
      sock.close();
      resolve(v);
    };
    const timer = setTimeout(() => done(null), 2000);
    sock.on('error', () => done(null));
    sock.on('message', (m, rinfo) => {
      if (m.readUInt16BE(0) !== 3) return done(null);
      const ms = performance.now() - t0;
      // ERROR 0 "probe done": the server stops the transfer.
      const err = Buffer.from([0, 5, 0, 0, ...Buffer.from('probe done'), 0]);
      sock.send(err, rinfo.port, rinfo.address, () => done(ms));
    });
    sock.bind(0, '10.90.0.254', () => {
      const rrq = Buffer.from([0, 1, ...Buffer.from('undionly.kpxe'), 0, ...Buffer.from('octet'), 0]);
      sock.send(rrq, 69, STORM_SERVER);
    });
  });
}

async function probeHttp(): Promise<number | null> {
  const t0 = performance.now();
  try {
    const r = await fetch(`${STORM_HTTP}/api/v1/health`, { signal: AbortSignal.timeout(2000) });
    await r.arrayBuffer();
    return r.ok ? performance.now() - t0 : null;
  } catch {
    return null;
  }
}

async function probeFor(ms: number): Promise<ProbeSet> {
  const out: ProbeSet = { dhcp: [], tftp: [], http: [], lost: { dhcp: 0, tftp: 0, http: 0 } };
  const sock = createSocket({ type: 'udp4', reuseAddr: true });
  const waiters = new Map<number, () => void>();
  sock.on('message', (m) => {
    try {
      const p = decodeDhcp(new Uint8Array(m));
      waiters.get(p.xid)?.();
    } catch {
      /* not ours */
    }
  });
  await new Promise<void>((r) => sock.bind(67, STORM_RELAY, () => r()));
  const end = performance.now() + ms;
  let i = Math.floor(Math.random() * 30_000);
  const loop = async (kind: keyof ProbeSet['lost'], probe: () => Promise<number | null>) => {
    // Bounded by time: one probe per 100 ms until `end`.
    while (performance.now() < end) {
      const started = performance.now();
      const v = await probe();
      if (v === null) out.lost[kind]++;
      else out[kind].push(v);
      const rest = 100 - (performance.now() - started);
      if (rest > 0) await sleep(rest);
    }
  };
  await Promise.all([
    loop('dhcp', () => probeDhcp(sock, waiters, i++)),
    loop('tftp', probeTftp),
    loop('http', probeHttp),
  ]);
  sock.close();
  return out;
}

const pct = (xs: number[], p: number) => {
  if (xs.length === 0) return NaN;
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.floor((p / 100) * s.length))];
};
const fmt = (xs: number[], lost: number) =>
  `p50 ${pct(xs, 50).toFixed(1).padStart(6)} ms  p99 ${pct(xs, 99).toFixed(1).padStart(6)} ms  max ${Math.max(...xs)
    .toFixed(1)
    .padStart(6)} ms  (${xs.length} answered, ${lost} lost)`;

// --- run ------------------------------------------------------------------

try {
  process.stdout.write(`syslog flood: ${RATE} lines/s for ${SECONDS} s, ${cpus().length} cores\n`);
  const bed = await startStormBed({
    work,
    nodeImage: false,
    // e.g. KILN_BENCH_NODE_FLAGS="--cpu-prof --cpu-prof-dir=/tmp/prof" profiles `kiln serve` during the run.
    nodeFlags: process.env.KILN_BENCH_NODE_FLAGS?.split(' ').filter(Boolean),
    extraConfig: { syslog: { enabled: true, address: STORM_SERVER, tcp: false } },
  });
  namespaces.push(bed.ns);
  for (let i = 0; i < 100 && !/syslog receiver listening/.test(bed.log()); i++) await sleep(100);
  const auth = { authorization: `Bearer ${bed.adminToken()}` };
  const metric = async (event: string) => {
    const text = await (await fetch(`${STORM_HTTP}/metrics`, { headers: auth })).text();
    return Number(new RegExp(`kiln_syslog_total\\{event="${event}"\\} (\\d+)`).exec(text)?.[1] ?? 0);
  };

  process.stdout.write('probing DHCP, TFTP and HTTP before the flood (3 s)\n');
  const idle = await probeFor(3000);

  // Kiln
  const kilnDb = new BetterSqlite3(join(bed.dataDir, 'syslog.sqlite'), { readonly: true, fileMustExist: true });
  // Nothing is deleted during the run: the largest id is the count, without a scan.
  const kilnRows = () => Number(kilnDb.prepare('SELECT coalesce(max(id), 0) FROM lines').pluck().get());
  const kilnRowsBefore = kilnRows();
  const kilnUdp0 = udpCounters(bed.ns);
  process.stdout.write('flooding Kiln, probing meanwhile\n');
  const t0k = performance.now();
  const [kilnSend, busy] = await Promise.all([flood('10.90.0.254', STORM_SERVER), probeFor(SECONDS * 1000)]);
  const kilnSettled = await settle(() => kilnRows() - kilnRowsBefore, t0k);
  const kilnUdp1 = udpCounters(bed.ns);
  const kilnQueueFull = await metric('queue_full');
  const kilnStoreFailed = await metric('store_failed');
  kilnDb.close();
  const kilnRss = rssOf(bed.ns, 'kiln.mjs');
  await bed.close();

  // rsyslog, in its own namespace with a generated config
  const rns = createNetns('rf', `${RSYSLOG_SENDER}/24`, `${RSYSLOG_ADDR}/24`);
  namespaces.push(rns);
  const rdir = join(work, 'rsyslog');
  mkdirSync(join(rdir, 'work'), { recursive: true });
  const out = join(rdir, 'out.log');
  writeFileSync(out, '');
  const conf = join(rdir, 'rsyslog.conf');
  writeFileSync(
    conf,
    `global(workDirectory="${join(rdir, 'work')}")
module(load="imudp")
input(type="imudp" address="${RSYSLOG_ADDR}" port="514")
template(name="line" type="string" string="%timegenerated:::date-rfc3339% %fromhost-ip% %syslogseverity% %hostname% %syslogtag%%msg%\\n")
action(type="omfile" file="${out}" template="line")
`,
  );
  const version = execFileSync('rsyslogd', ['-v'], { encoding: 'utf8' }).split('\n')[0];
  const rsys = rns.spawn('rsyslogd', ['-n', '-f', conf, '-i', join(rdir, 'rsyslogd.pid')], { stdio: 'ignore' });
  children.push(rsys);
  // Bounded wait for imudp to bind.
  for (let i = 0; i < 50 && !/:514\b/.test(rns.exec('ss', ['-uln'])); i++) await sleep(100);
  const rUdp0 = udpCounters(rns);
  process.stdout.write(`flooding ${version}\n`);
  const t0r = performance.now();
  const rSend = await flood(RSYSLOG_SENDER, RSYSLOG_ADDR);
  // The file's size until it stops growing (the same 2 s rule as Kiln's row count), then its lines.
  const rSettled = await settle(() => statSync(out).size, t0r);
  const rUdp1 = udpCounters(rns);
  const rStored = readFileSync(out, 'utf8')
    .split('\n')
    .filter((l) => l.includes('flood line')).length;
  const rRss = rssOf(rns, 'rsyslogd');
  await stopChild(rsys, 5000);

  const kilnRecv = kilnUdp1.inDatagrams - kilnUdp0.inDatagrams;
  const rRecv = rUdp1.inDatagrams - rUdp0.inDatagrams;
  const row = (name: string, k: string | number, r: string | number) =>
    `  ${name.padEnd(40)}${String(k).padStart(14)}${String(r).padStart(14)}\n`;
  process.stdout.write(`\n${'  '.padEnd(42)}${'Kiln'.padStart(14)}${'rsyslogd'.padStart(14)}\n`);
  process.stdout.write(row('lines sent', kilnSend.sent, rSend.sent));
  process.stdout.write(
    row('send rate achieved (lines/s)', Math.round(kilnSend.sent / kilnSend.secs), Math.round(rSend.sent / rSend.secs)),
  );
  process.stdout.write(row('delivered to the socket (kernel)', kilnRecv, rRecv));
  process.stdout.write(
    row(
      'dropped by the kernel (rcvbuf full)',
      kilnUdp1.rcvbufErrors - kilnUdp0.rcvbufErrors,
      rUdp1.rcvbufErrors - rUdp0.rcvbufErrors,
    ),
  );
  process.stdout.write(row('dropped by the receiver (queue/store)', kilnQueueFull + kilnStoreFailed, 'n/a'));
  process.stdout.write(row('stored', kilnSettled.stored, rStored));
  process.stdout.write(row('lost in all (sent - stored)', kilnSend.sent - kilnSettled.stored, rSend.sent - rStored));
  process.stdout.write(
    row(
      'ingest rate (stored / flood time, lines/s)',
      Math.round(kilnSettled.stored / kilnSend.secs),
      Math.round(rStored / rSend.secs),
    ),
  );
  process.stdout.write(
    row(
      'last line stored at (s after start)',
      (kilnSettled.lastGrowthMs / 1000).toFixed(1),
      (rSettled.lastGrowthMs / 1000).toFixed(1),
    ),
  );
  process.stdout.write(row('resident memory after (MiB)', (kilnRss / 1024).toFixed(0), (rRss / 1024).toFixed(0)));
  process.stdout.write(`\nKiln's answers, idle vs during its flood (one probe of each per 100 ms):\n`);
  process.stdout.write(
    `  DHCP idle   ${fmt(idle.dhcp, idle.lost.dhcp)}\n  DHCP flood  ${fmt(busy.dhcp, busy.lost.dhcp)}\n`,
  );
  process.stdout.write(
    `  TFTP idle   ${fmt(idle.tftp, idle.lost.tftp)}\n  TFTP flood  ${fmt(busy.tftp, busy.lost.tftp)}\n`,
  );
  process.stdout.write(
    `  HTTP idle   ${fmt(idle.http, idle.lost.http)}\n  HTTP flood  ${fmt(busy.http, busy.lost.http)}\n`,
  );
} finally {
  for (const c of children) await stopChild(c, 5000);
  for (const ns of namespaces) ns.remove();
  rmSync(work, { recursive: true, force: true });
}

// Boot storm: N simulated BIOS machines power on at once and go the whole
// firmware path against one `kiln serve` (DHCP full mode behind a relay, TFTP,
// HTTP boot) in a network namespace, the way a PXE ROM and iPXE do it:
//   PXE DHCP (DISCOVER/REQUEST, arch 0) → TFTP undionly.kpxe (blksize 1468)
//   → iPXE DHCP (77 = iPXE) → GET /boot.ipxe → GET the per-host script
//   → GET the discovery kernel and initrd it names → POST the discovery report.
// Each machine retries like firmware (DHCP resent after 1, 2, 4 s; TFTP
// timeouts; one HTTP retry); the run counts machines that needed a retry and
// machines that failed. There is no peer to run side by side: no single peer
// does this chain (dnsmasq + nginx would have no discovery step); the figures
// are Kiln's own, with the controller's memory after the storm.
// Run as root: npx tsx bench/boot-storm.bench.ts [hosts=1000] [parallel=all] [--no-images]
// The node image is built once into KILN_BENCH_CACHE (default /var/tmp/kiln-bench-cache).
import { execFileSync, type ChildProcess } from 'node:child_process';
import { createSocket, type Socket } from 'node:dgram';
import { createWriteStream, mkdirSync, mkdtempSync, readFileSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { monitorEventLoopDelay } from 'node:perf_hooks';
import { join } from 'node:path';
import { Agent, request } from 'undici';
import { createNetns } from '../test/support/netns.js';
import { stopChild } from '../test/support/process.js';
import { kilnBin } from '../test/support/serve-process.js';
import { decodeDhcp, encodeDhcp, type DhcpPacket } from '../src/protocols/dhcp4/packet.js';
import { ipOption, textOption, uintOption } from '../src/protocols/dhcp4/options.js';
import { decodeTftp, encodeTftp } from '../src/protocols/tftp/packet.js';

const args = process.argv.slice(2).filter((a) => !a.startsWith('--'));
/** --no-images: skip the kernel and initrd downloads (23 MB per machine), to see the control plane alone. */
const SKIP_IMAGES = process.argv.includes('--no-images');
const HOSTS = Math.max(1, Math.min(20_000, Number(args[0] ?? 1000)));
const PARALLEL = Math.max(1, Math.min(HOSTS, Number(args[1] ?? HOSTS)));
const CACHE = process.env['KILN_BENCH_CACHE'] ?? '/var/tmp/kiln-bench-cache';
const SERVER = '10.90.0.1';
const RELAY = '10.91.0.1';
const HTTP = `http://${SERVER}:8080`;
const STEP_LIMIT_MS = 60_000;

const work = mkdtempSync(join(tmpdir(), 'kiln-storm-'));
const dataDir = join(work, 'data');
mkdirSync(CACHE, { recursive: true });
mkdirSync(dataDir, { mode: 0o700 });
symlinkSync(CACHE, join(dataDir, 'cache'));

process.stdout.write(`node image: building or reusing in ${CACHE}\n`);
execFileSync(process.execPath, [kilnBin, 'image', 'build-discovery', '--data-dir', dataDir], { stdio: ['ignore', 'ignore', 'inherit'], timeout: 15 * 60_000 });

const ns = createNetns('bs', '10.90.0.254/24', `${SERVER}/24`);
let serve: ChildProcess | undefined;
let relay: Socket | undefined;
const agent = new Agent({ connections: 256, pipelining: 0 });

async function cleanup(): Promise<void> {
  relay?.close();
  await agent.close().catch(() => {});
  await stopChild(serve, 10_000);
  ns.remove();
  rmSync(work, { recursive: true, force: true });
}

// ---------- the controller ----------
execFileSync('ip', ['addr', 'add', `${RELAY}/16`, 'dev', ns.hostIf]);
ns.exec('ip', ['route', 'add', '10.91.0.0/16', 'via', '10.90.0.254']);
const cfg = join(work, 'kiln.yaml');
writeFileSync(cfg, JSON.stringify({
  dhcp: {
    enabled: true, serverAddress: SERVER, httpBase: HTTP,
    subnets: [{ cidr: '10.91.0.0/16', mode: 'full', pools: [{ start: '10.91.1.0', end: '10.91.200.255' }], router: RELAY, dns: [], leaseSeconds: 3600, attached: false }],
  },
  tftp: { enabled: true },
}));
let log = '';
serve = ns.spawn(process.execPath, [...(process.env['KILN_STORM_CPU_PROF'] ? ['--cpu-prof', `--cpu-prof-dir=${process.env['KILN_STORM_CPU_PROF']}`] : []), kilnBin, 'serve', '--config', cfg, '--data-dir', dataDir, '--listen', '0.0.0.0:8080', '--tls-listen', '',
  '--public-url', HTTP, '--power-poll-interval', '0'], { stdio: ['ignore', 'pipe', 'pipe'] });
// The whole controller log goes to a file (kept as kiln-storm.log in the temp dir when a machine failed).
const logFile = createWriteStream(join(tmpdir(), 'kiln-storm.log'));
serve.stdout!.on('data', (d) => { log = (log + d).slice(-200_000); logFile.write(d); });
serve.stderr!.on('data', (d) => { log = (log + d).slice(-200_000); logFile.write(d); });
for (let i = 0; ; i++) {
  if (i > 240 || serve.exitCode !== null) { process.stderr.write(log); await cleanup(); throw new Error('kiln serve did not become ready (DHCP serving and node image ready)'); }
  if (/DHCP serving/.test(log) && /node image ready/.test(log)) break;
  await new Promise((r) => setTimeout(r, 250));
}

// ---------- the simulated machines ----------
interface Timing { dhcp: number; tftp: number; ipxeDhcp: number; scripts: number; images: number; report: number; total: number }
interface Outcome { ok: boolean; retries: number; retriedAt: string[]; error?: string; t?: Timing; bytes: number }

relay = createSocket('udp4');
await new Promise<void>((r, j) => { relay!.once('error', j); relay!.bind(67, RELAY, () => r()); });
// A relay's socket receives every reply of the storm in one burst; the default buffer would drop most of them.
relay.setRecvBufferSize(16 * 1024 * 1024);
// The relay agent: replies come back to giaddr:67 (RFC 2131 §4.1); matched to the waiting machine by xid.
const waiting = new Map<number, (p: DhcpPacket) => void>();
relay.on('message', (m) => {
  try {
    const p = decodeDhcp(new Uint8Array(m.buffer, m.byteOffset, m.byteLength));
    waiting.get(p.xid)?.(p);
  } catch { /* not ours */ }
});

const macOf = (i: number): Uint8Array => Uint8Array.of(0x52, 0x54, 0x01, (i >> 16) & 0xff, (i >> 8) & 0xff, i & 0xff);
const macText = (b: Uint8Array): string => Array.from(b, (x) => x.toString(16).padStart(2, '0')).join(':');
const uuidOf = (i: number): string => `4b696c6e-0000-4000-8000-${i.toString(16).padStart(12, '0')}`;

/**
 * One DHCP exchange step as a relay sees it: send, wait for the answer of `type`, resend with the
 * firmware's back-off: a PXE ROM waits 4, 8, 16, 32 s (PXE spec 2.1 §2.2.1), iPXE 1, 2, 4, 8 s.
 */
async function dhcpStep(req: DhcpPacket, want: number, retries: { n: number }, firstTimeoutMs: number): Promise<DhcpPacket> {
  for (let attempt = 0; attempt < 4; attempt++) {
    if (attempt > 0) retries.n++;
    const got = await new Promise<DhcpPacket | null>((resolve) => {
      const t = setTimeout(() => { waiting.delete(req.xid); resolve(null); }, firstTimeoutMs * 2 ** attempt);
      waiting.set(req.xid, (p) => {
        if (p.options.find((o) => o.code === 53)?.data[0] !== want) return;
        clearTimeout(t); waiting.delete(req.xid); resolve(p);
      });
      relay!.send(encodeDhcp(req), 67, SERVER);
    });
    if (got) return got;
  }
  throw new Error(`no DHCP answer type ${want}`);
}

async function dora(i: number, xid: number, ipxe: boolean, retries: { n: number }): Promise<DhcpPacket> {
  const chaddr = new Uint8Array(16);
  chaddr.set(macOf(i));
  const opts = [uintOption(93, 0, 2), textOption(60, 'PXEClient:Arch:00000:UNDI:002001'), { code: 97, data: Uint8Array.of(0, ...uuidBytes(i)) }, ...(ipxe ? [textOption(77, 'iPXE')] : [])];
  const base: DhcpPacket = { op: 1, htype: 1, hlen: 6, hops: 1, xid, secs: 0, flags: 0, ciaddr: '0.0.0.0', yiaddr: '0.0.0.0', siaddr: '0.0.0.0', giaddr: RELAY, chaddr, sname: '', file: '', options: [] };
  const first = ipxe ? 1000 : 4000;
  const offer = await dhcpStep({ ...base, options: [uintOption(53, 1, 1), ...opts] }, 2, retries, first);
  const ack = await dhcpStep({ ...base, options: [uintOption(53, 3, 1), ipOption(50, offer.yiaddr), ipOption(54, SERVER), ...opts] }, 5, retries, first);
  if (ack.yiaddr !== offer.yiaddr) throw new Error(`ACK ${ack.yiaddr} differs from OFFER ${offer.yiaddr}`);
  return ack;
}

function uuidBytes(i: number): number[] {
  return uuidOf(i).replace(/-/g, '').match(/../g)!.map((h) => Number.parseInt(h, 16));
}

/** A lock-step TFTP read with blksize 1468 and tsize, as PXE ROMs do; returns the byte count. */
async function tftpGet(file: string, retries: { n: number }): Promise<number> {
  const sock = createSocket('udp4');
  await new Promise<void>((r) => sock.bind(0, '10.90.0.254', () => r()));
  try {
    let size = -1; let got = 0; let expect = 1; let tid = 0; let last: Uint8Array = encodeTftp({ op: 'rrq', filename: file, mode: 'octet', options: [{ name: 'blksize', value: '1468' }, { name: 'tsize', value: '0' }] });
    let lastTo = 69;
    for (let guard = 0; guard < 100_000; guard++) {
      const m = await new Promise<Buffer | null>((resolve) => {
        const t = setTimeout(() => { sock.removeAllListeners('message'); resolve(null); }, 2000);
        sock.once('message', (b, rinfo) => { clearTimeout(t); tid ||= rinfo.port; resolve(b); });
        sock.send(last, lastTo, SERVER);
      });
      if (!m) { if (++retries.n > 50) throw new Error('TFTP: too many timeouts'); continue; }
      const p = decodeTftp(new Uint8Array(m.buffer, m.byteOffset, m.byteLength));
      if (p.op === 'error') throw new Error(`TFTP error ${p.code} ${p.message}`);
      lastTo = tid;
      if (p.op === 'oack') { size = Number(p.options.find((o) => o.name === 'tsize')?.value ?? -1); last = encodeTftp({ op: 'ack', block: 0 }); continue; }
      if (p.op !== 'data') continue;
      if (p.block === (expect & 0xffff)) { got += p.data.length; expect++; }
      last = encodeTftp({ op: 'ack', block: p.block });
      if (p.data.length < 1468 && p.block === ((expect - 1) & 0xffff)) {
        // The final ACK must leave before the socket closes, or the server retransmits until its timeout.
        await new Promise((r) => sock.send(last, tid, SERVER, r));
        if (size >= 0 && got !== size) throw new Error(`TFTP: got ${got} of ${size} bytes`);
        return got;
      }
    }
    throw new Error('TFTP: transfer did not end');
  } finally {
    sock.close();
  }
}

async function httpGet(url: string, retries: { n: number }): Promise<{ text?: string; bytes: number }> {
  for (let attempt = 0; ; attempt++) {
    try {
      const res = await request(url, { dispatcher: agent, headersTimeout: STEP_LIMIT_MS, bodyTimeout: STEP_LIMIT_MS });
      if (res.statusCode !== 200) { await res.body.dump(); throw new Error(`GET ${url}: ${res.statusCode}`); }
      if (String(res.headers['content-type'] ?? '').startsWith('text/')) { const text = await res.body.text(); return { text, bytes: text.length }; }
      let bytes = 0;
      for await (const chunk of res.body) bytes += (chunk as Buffer).length;
      const want = Number(res.headers['content-length'] ?? bytes);
      if (bytes !== want) throw new Error(`GET ${url}: ${bytes} of ${want} bytes`);
      return { bytes };
    } catch (err) {
      if (attempt >= 1) throw err;
      retries.n++;
    }
  }
}

async function machine(i: number): Promise<Outcome> {
  const retries = { n: 0 };
  const retriedAt: string[] = [];
  let before = 0;
  const stages = ['PXE DHCP', 'TFTP', 'iPXE DHCP', 'scripts', 'kernel+initrd', 'report'];
  const t0 = performance.now();
  const mark: number[] = [];
  const step = () => {
    if (retries.n > before) retriedAt.push(stages[mark.length]!);
    before = retries.n;
    mark.push(performance.now());
  };
  let bytes = 0;
  try {
    const ack = await dora(i, (0x10000000 + i * 2) >>> 0, false, retries); step();
    if (ack.file !== 'undionly.kpxe') throw new Error(`PXE file ${ack.file}`);
    bytes += await tftpGet(ack.file, retries); step();
    const ack2 = await dora(i, (0x10000001 + i * 2) >>> 0, true, retries); step();
    if (ack2.file !== `${HTTP}/boot.ipxe`) throw new Error(`iPXE file ${ack2.file}`);
    const chain = await httpGet(ack2.file, retries);
    const mac = macText(macOf(i));
    const script = await httpGet(`${HTTP}/boot/host.ipxe?mac=${encodeURIComponent(mac)}&uuid=${uuidOf(i)}&arch=i386&platform=pcbios`, retries); step();
    if (!chain.text?.includes('/boot/host.ipxe')) throw new Error('chain script does not name the per-host script');
    const kernel = /^kernel (\S+)/m.exec(script.text ?? '')?.[1];
    const initrd = /^initrd (?:--name \S+ )?(\S+)/m.exec(script.text ?? '')?.[1];
    if (!kernel || !initrd) throw new Error(`per-host script has no kernel/initrd:\n${script.text}`);
    if (!SKIP_IMAGES) {
      bytes += (await httpGet(kernel, retries)).bytes;
      bytes += (await httpGet(initrd, retries)).bytes;
    }
    step();
    const report = await request(`${HTTP}/api/v1/node/discover`, {
      method: 'POST', dispatcher: agent, headers: { 'content-type': 'application/json' }, headersTimeout: STEP_LIMIT_MS, bodyTimeout: STEP_LIMIT_MS,
      body: JSON.stringify({ facts: { bootMac: mac, firmware: 'bios', nics: [{ mac, name: 'eth0', link: true }], cpu: { model: 'sim', cores: 2 }, memory: { bytes: 1 << 30 }, disks: [{ name: 'vda', bytes: 2 ** 31 }], dmi: { serial: `SIM${i}`, vendor: 'Kiln', model: 'storm' } } }),
    });
    if (report.statusCode !== 200) throw new Error(`discovery report: ${report.statusCode} ${await report.body.text()}`);
    const body = await report.body.json() as { credential?: string };
    if (!body.credential) throw new Error('discovery report answered without a credential');
    step();
    const [a, b, c, d, e, f] = mark as [number, number, number, number, number, number];
    return { ok: true, retries: retries.n, retriedAt, bytes, t: { dhcp: a - t0, tftp: b - a, ipxeDhcp: c - b, scripts: d - c, images: e - d, report: f - e, total: f - t0 } };
  } catch (err) {
    return { ok: false, retries: retries.n, retriedAt, bytes, error: `${stages[mark.length]}: ${(err as Error).message.split('\n')[0]}` };
  }
}

// ---------- the storm ----------
process.stdout.write(`storm: ${HOSTS} machines, ${PARALLEL} at once\n`);
// The simulator shares the 2 cores with Kiln: its own event-loop delay makes replies look late (a timer
// fires before a waiting reply is read). Reported so a reader can tell the simulator's lag from Kiln's.
const lag = monitorEventLoopDelay({ resolution: 10 });
lag.enable();
const started = performance.now();
const outcomes: Outcome[] = [];
let next = 0;
await Promise.all(Array.from({ length: PARALLEL }, async () => {
  while (next < HOSTS) { const i = next++; outcomes.push(await machine(i)); }
}));
const wall = (performance.now() - started) / 1000;
lag.disable();

const metrics = await (await request(`${HTTP}/metrics`, { dispatcher: agent, headers: { authorization: `Bearer ${readFileSync(join(dataDir, 'admin-token'), 'utf8').trim()}` } })).body.text();
const rss = Number(/^process_resident_memory_bytes (\d+)/m.exec(metrics)?.[1] ?? 0);
const ok = outcomes.filter((o) => o.ok);
const failed = outcomes.filter((o) => !o.ok);
const retried = outcomes.filter((o) => o.retries > 0);
const pct = (xs: number[], p: number): number => { const s = [...xs].sort((x, y) => x - y); return s[Math.min(s.length - 1, Math.floor((s.length - 1) * p))] ?? 0; };
const row = (name: string, xs: number[]) => `${name.padEnd(28)} ${pct(xs, 0.5).toFixed(0).padStart(8)} ${pct(xs, 0.99).toFixed(0).padStart(8)} ${Math.max(0, ...xs).toFixed(0).padStart(8)}`;
const ts = ok.map((o) => o.t!);
const totalBytes = outcomes.reduce((n, o) => n + o.bytes, 0);

console.log(`\nBoot storm: ${HOSTS} simulated BIOS machines at once (parallel ${PARALLEL}), one kiln serve, 2 cores`);
const retriedStages = new Map<string, number>();
for (const o of outcomes) for (const st of o.retriedAt) retriedStages.set(st, (retriedStages.get(st) ?? 0) + 1);
console.log(`machines booted to a discovery report: ${ok.length} / ${HOSTS}; failed: ${failed.length}; needed a retry: ${retried.length}${retried.length ? ` (${[...retriedStages].map(([st, n]) => `${st} ${n}`).join(', ')})` : ''}`);
console.log(`wall time ${wall.toFixed(1)} s; ${(ok.length / wall).toFixed(1)} machines/s; ${(totalBytes / 1024 / 1024 / wall).toFixed(0)} MiB/s of boot files; controller RSS after: ${(rss / 1024 / 1024).toFixed(0)} MiB`);
console.log(`simulator event-loop delay: p50 ${(lag.percentile(50) / 1e6).toFixed(0)} ms, p99 ${(lag.percentile(99) / 1e6).toFixed(0)} ms, max ${(lag.max / 1e6).toFixed(0)} ms`);
console.log(`\n${'stage (ms)'.padEnd(28)} ${'p50'.padStart(8)} ${'p99'.padStart(8)} ${'max'.padStart(8)}`);
console.log(row('PXE DHCP (DORA)', ts.map((t) => t.dhcp)));
console.log(row('TFTP undionly.kpxe', ts.map((t) => t.tftp)));
console.log(row('iPXE DHCP (DORA)', ts.map((t) => t.ipxeDhcp)));
console.log(row('/boot.ipxe + per-host script', ts.map((t) => t.scripts)));
console.log(row('kernel + initrd', ts.map((t) => t.images)));
console.log(row('discovery report', ts.map((t) => t.report)));
console.log(row('whole boot', ts.map((t) => t.total)));
const reasons = new Map<string, number>();
for (const f of failed) reasons.set(f.error ?? '?', (reasons.get(f.error ?? '?') ?? 0) + 1);
for (const [r, n] of [...reasons].slice(0, 10)) console.log(`failure x${n}: ${r}`);
if (reasons.size > 10) console.log(`… and ${reasons.size - 10} other failure messages`);
await cleanup();
if (failed.length) console.log(`controller log: ${join(tmpdir(), 'kiln-storm.log')}`);

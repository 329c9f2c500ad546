// SSE fan-out: N subscribers (default 1 000) on GET /api/v1/events/stream of
// one `kiln serve` (loopback, SQLite), while events are appended at a steady
// rate (hosts created through the API, one `host.created` event each). For
// every delivery: the time from the event's append (`at`, stamped by the
// controller) to its arrival at the subscriber, at p50/p99/max, and whether
// every subscriber got every event exactly once, in order. The subscribers
// run in this process (one event loop parsing every stream): their own delay
// is part of the figure. No peer: nothing else serves Kiln's event stream.
//
// Run after `npm run build`: npx tsx bench/sse-fanout.bench.ts [subscribers=1000] [events/s=20] [seconds=10]
import { request, Agent } from 'node:http';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { cpus, tmpdir } from 'node:os';
import { join } from 'node:path';
import { startServe } from '../test/support/serve-process.js';
import { stopChild } from '../test/support/process.js';

const args = process.argv.slice(2);
const SUBSCRIBERS = Math.max(1, Math.min(5000, Number(args[0] ?? 1000)));
const RATE = Math.max(1, Math.min(500, Number(args[1] ?? 20)));
const SECONDS = Math.max(1, Math.min(120, Number(args[2] ?? 10)));
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

const work = mkdtempSync(join(tmpdir(), 'kiln-sse-bench-'));
const dataDir = join(work, 'data');
const serve = await startServe(['--data-dir', dataDir, '--power-poll-interval', '0'], {}, 60_000);
try {
  const token = readFileSync(join(dataDir, 'admin-token'), 'utf8').trim();
  const url = new URL(serve.url);
  const agent = new Agent({ keepAlive: false, maxSockets: Infinity });
  const latencies: number[] = [];
  const seen = Array.from({ length: SUBSCRIBERS }, () => [] as number[]);
  let connected = 0;
  const reqs: Array<ReturnType<typeof request>> = [];
  for (let i = 0; i < SUBSCRIBERS; i++) {
    const req = request(
      {
        host: url.hostname,
        port: url.port,
        path: '/api/v1/events/stream?kind=host.created',
        agent,
        headers: { authorization: `Bearer ${token}`, accept: 'text/event-stream' },
      },
      (res) => {
        if (res.statusCode === 200) connected++;
        res.setEncoding('utf8');
        let buf = '';
        res.on('data', (chunk: string) => {
          const now = Date.now();
          buf += chunk;
          let end: number;
          while ((end = buf.indexOf('\n\n')) >= 0) {
            const msg = buf.slice(0, end);
            buf = buf.slice(end + 2);
            const data = msg
              .split('\n')
              .filter((l) => l.startsWith('data:'))
              .map((l) => l.slice(5).trim())
              .join('\n');
            if (!data) continue;
            const e = JSON.parse(data) as { seq: number; at: string };
            latencies.push(now - Date.parse(e.at));
            seen[i].push(e.seq);
          }
        });
        res.on('error', () => {});
      },
    );
    req.on('error', (err) => process.stderr.write(`subscriber ${i}: ${err.message}\n`));
    req.end();
    reqs.push(req);
  }
  // Bounded: 60 s for every subscriber to be connected.
  for (let i = 0; i < 600 && connected < SUBSCRIBERS; i++) await sleep(100);
  process.stdout.write(
    `SSE fan-out: ${connected}/${SUBSCRIBERS} subscribers connected; appending ${RATE} events/s for ${SECONDS} s (${cpus().length} cores)\n`,
  );

  const total = RATE * SECONDS;
  const t0 = performance.now();
  let made = 0;
  let failed = 0;
  const appends: Array<Promise<void>> = [];
  // Steady rate: the i-th event is appended at t0 + i/RATE, whatever the previous one took.
  for (let i = 0; i < total; i++) {
    const due = t0 + (i * 1000) / RATE;
    const wait = due - performance.now();
    if (wait > 0) await sleep(wait);
    appends.push(
      fetch(`${serve.url}/api/v1/hosts`, {
        method: 'POST',
        headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' },
        body: JSON.stringify({
          name: `sse-${i}`,
          nics: [
            {
              mac: `52:54:00:5e:${((i >> 8) & 0xff).toString(16).padStart(2, '0')}:${(i & 0xff).toString(16).padStart(2, '0')}`,
            },
          ],
        }),
      }).then(
        (r) => void (r.ok ? made++ : failed++),
        () => void failed++,
      ),
    );
  }
  await Promise.all(appends);
  // Bounded: 30 s for the last deliveries.
  for (let i = 0; i < 300 && latencies.length < made * connected; i++) await sleep(100);
  const sorted = [...latencies].sort((a, b) => a - b);
  const p = (q: number) => sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))];
  const inOrderOnce = seen.every((s) => s.length === made && s.every((v, j) => j === 0 || v > s[j - 1]));
  process.stdout.write(
    `  events appended        ${made} (${failed} failed)\n` +
      `  deliveries             ${latencies.length} of ${made * connected} expected\n` +
      `  every subscriber got every event once, in order: ${inOrderOnce ? 'yes' : 'no'}\n` +
      `  append → delivery      p50 ${p(0.5)} ms  p99 ${p(0.99)} ms  max ${sorted[sorted.length - 1]} ms\n`,
  );
  for (const r of reqs) r.destroy();
  agent.destroy();
} finally {
  await stopChild(serve.child, 10_000);
  rmSync(work, { recursive: true, force: true });
}

// One simulator process of the boot storm (bench/boot-storm.bench.ts
// --sim-procs=N): boots its share of the fleet (test/support/fleet.ts) as the
// relay agent at its own address, so N processes split the simulator's work
// over the machine's cores and no single event loop is the bottleneck.
// With `webhookPort`, it is also every one of its machines' BMC: Kiln's
// webhook power driver POSTs {"action":"on","host":"sim-<i>"} to
// http://<relay side>:<port>/on and machine i starts booting only then, so
// the power queue and its admission control decide when machines start.
// Not meant to be run by hand: argv[2] is a JSON job, argv[3] the file the
// result (JSON) is written to; it prints "ready" once it listens.
import { writeFileSync } from 'node:fs';
import { createServer } from 'node:http';
import { runFleet, type FleetFirmware, type FleetTarget } from '../test/support/fleet.js';

interface Job {
  indices: number[];
  relay: string;
  images: boolean;
  firmware: FleetFirmware | 'mixed';
  /** Power mode: listen here (on `listenAddress`) as the machines' webhook BMC. */
  webhookPort?: number;
  listenAddress?: string;
  /** Power mode: a machine not powered on within this many seconds fails as "never powered on". */
  powerWaitSeconds?: number;
  /** Several controllers (bench --controllers): where to boot from, and how many boots a machine may start. */
  target?: FleetTarget;
  maxBoots?: number;
  /** Print "scripts" on stdout each time a machine has its per-host script (the bench's --kill-at counts them). */
  reportScripts?: boolean;
  /** Each machine fetches from its leased address (fleet.ts `leasedSources`). */
  leasedSources?: boolean;
}

const job = JSON.parse(process.argv[2] ?? '{}') as Job;
const out = process.argv[3];
if (!out || !Array.isArray(job.indices) || !job.relay) throw new Error('usage: storm-sim.ts <job JSON> <result file>');

const powered = new Map<number, () => void>();
const poweredAt = new Map<number, number>();
const mine = new Set(job.indices);
let server: ReturnType<typeof createServer> | undefined;
if (job.webhookPort) {
  server = createServer((req, res) => {
    let body = '';
    req.setEncoding('utf8');
    req.on('data', (d: string) => {
      if (body.length < 4096) body += d;
    });
    req.on('end', () => {
      let host = '';
      try {
        host = String((JSON.parse(body) as { host?: unknown }).host ?? '');
      } catch {
        /* answered 400 below */
      }
      const i = Number(/^sim-(\d+)$/.exec(host)?.[1] ?? NaN);
      if (req.url !== '/on' || !mine.has(i)) {
        res
          .writeHead(400, { 'content-type': 'application/json' })
          .end('{"error":"not one of this simulator\'s machines"}');
        return;
      }
      if (!poweredAt.has(i)) poweredAt.set(i, Date.now());
      powered.get(i)?.();
      res.writeHead(200, { 'content-type': 'application/json' }).end('{}');
    });
  });
  server.on('error', (err) => console.error(`storm-sim webhook server: ${err.message}`));
  await new Promise<void>((r) => server!.listen(job.webhookPort, job.listenAddress ?? '0.0.0.0', r));
}

// Without power: every machine of every simulator starts when the bench writes "go" (one start for the fleet).
let go: () => void = () => {};
const started = new Promise<void>((r) => (go = r));
process.stdin.setEncoding('utf8');
// Power mode: "end" once the batch has answered; a machine still waiting was not powered on (its power-on
// failed) and is counted as failed at once instead of after powerWaitSeconds.
const abandon = new Set<(why: Error) => void>();
process.stdin.on('data', (d: string) => {
  if (d.includes('go')) go();
  if (d.includes('end')) for (const reject of abandon) reject(new Error('not powered on by the batch'));
});
const waitLimitMs = (job.powerWaitSeconds ?? 1800) * 1000;
const gate = job.webhookPort
  ? (i: number) =>
      new Promise<void>((resolve, reject) => {
        if (poweredAt.has(i)) return resolve();
        const fail = (why: Error) => {
          clearTimeout(t);
          powered.delete(i);
          abandon.delete(fail);
          reject(why);
        };
        const t = setTimeout(() => fail(new Error(`never powered on within ${waitLimitMs / 1000} s`)), waitLimitMs);
        abandon.add(fail);
        powered.set(i, () => {
          clearTimeout(t);
          powered.delete(i);
          abandon.delete(fail);
          resolve();
        });
      })
  : () => started;

const startedEpoch = Date.now();
const running = runFleet({
  hosts: job.indices.length,
  indices: job.indices,
  relay: job.relay,
  images: job.images,
  firmware: job.firmware,
  gate,
  ...(job.target ? { target: job.target } : {}),
  ...(job.maxBoots ? { maxBoots: job.maxBoots } : {}),
  ...(job.leasedSources ? { leasedSources: true } : {}),
  ...(job.reportScripts
    ? {
        onStage: (_i: number, stage: string) => {
          if (stage === 'scripts') process.stdout.write('scripts\n');
        },
      }
    : {}),
});
process.stdout.write('ready\n');
const run = await running;
server?.close();
process.stdin.destroy();
writeFileSync(
  out,
  JSON.stringify({
    ...run,
    startedEpoch,
    endEpoch: startedEpoch + run.wallSeconds * 1000,
    poweredAt: Object.fromEntries(poweredAt),
  }),
);

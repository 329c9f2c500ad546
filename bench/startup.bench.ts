// Start-up time of the `kiln` command: `kiln --help` to exit, and `kiln serve`
// (fresh data directory, node image off) from spawn to the first answer of
// /api/v1/health on a free loopback port. Median of N runs (default 5).
// Every server is stopped by its PID; every wait is bounded.
// Run: npx tsx bench/startup.bench.ts [runs] [entry]   (entry: a script to time instead of bin/kiln.mjs)
import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { freePort, kilnBin } from '../test/support/serve-process.js';

const runs = Number(process.argv[2] ?? 5);
const entry = process.argv[3] ?? kilnBin;
const TIMEOUT_MS = 60_000;

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.floor(s.length / 2)]!;
}

function timeHelp(): Promise<number> {
  const t0 = performance.now();
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [entry, '--help'], { stdio: 'ignore' });
    const timer = setTimeout(() => child.kill('SIGKILL'), TIMEOUT_MS);
    child.once('exit', (code) => {
      clearTimeout(timer);
      if (code === 0) resolve(performance.now() - t0);
      else reject(new Error(`kiln --help exited with ${code}`));
    });
  });
}

async function timeServe(): Promise<number> {
  const dir = mkdtempSync(join(tmpdir(), 'kiln-startup-'));
  const [port, tlsPort] = [await freePort(), await freePort()];
  const args = ['serve', '--data-dir', dir, '--listen', `127.0.0.1:${port}`, '--tls-listen', `127.0.0.1:${tlsPort}`];
  const t0 = performance.now();
  const child = spawn(process.execPath, [entry, ...args, '--node-image', 'off'], { stdio: 'ignore' });
  const exited = new Promise((r) => child.once('exit', r));
  try {
    while (performance.now() - t0 < TIMEOUT_MS) {
      if (child.exitCode !== null) throw new Error('kiln serve exited early');
      const ok = await fetch(`http://127.0.0.1:${port}/api/v1/health`, { signal: AbortSignal.timeout(1000) }).then(
        (r) => r.ok,
        () => false,
      );
      if (ok) return performance.now() - t0;
      await new Promise((r) => setTimeout(r, 10));
    }
    throw new Error(`kiln serve did not answer within ${TIMEOUT_MS} ms`);
  } finally {
    child.kill('SIGTERM');
    await Promise.race([exited, new Promise((r) => setTimeout(r, 10_000))]);
    if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
    rmSync(dir, { recursive: true, force: true });
  }
}

const help: number[] = [];
const serve: number[] = [];
for (let i = 0; i < runs; i++) {
  help.push(await timeHelp());
  serve.push(await timeServe());
}
const fmt = (xs: number[]): string => `median ${median(xs).toFixed(0)} ms (${xs.map((x) => x.toFixed(0)).join(', ')})`;
console.log(`kiln --help:              ${fmt(help)}`);
console.log(`kiln serve → /health ok:  ${fmt(serve)}`);

// HTTP boot-file throughput: Kiln (fastify; memory cache, and streamed by @fastify/static) vs nginx on
// 127.0.0.1, 20 parallel curl clients each fetching a 64 MiB file. Bounded:
// every client has --max-time, every server is stopped by its PID.
// Run: npx tsx bench/http.bench.ts [--quick]
import { spawn, type ChildProcess } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import { chmodSync, mkdirSync, mkdtempSync, rmSync, writeFileSync, readFileSync } from 'node:fs';
import { cpus, tmpdir } from 'node:os';
import { join } from 'node:path';

const quick = process.argv.includes('--quick');
const MiB = 1024 * 1024;
const SIZE = (quick ? 16 : 64) * MiB;
const CONC = 20;
const ROUNDS = quick ? 1 : 3;

interface Server {
  name: string;
  port: number;
  child: ChildProcess;
}

function curl(args: string[], timeoutSec = 120): Promise<string> {
  return new Promise((resolve, reject) => {
    const c = spawn('curl', ['-sS', '--max-time', String(timeoutSec), ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    let err = '';
    c.stdout!.on('data', (d) => {
      out += d;
    });
    c.stderr!.on('data', (d) => {
      err += d;
    });
    c.on('close', (code) => (code === 0 ? resolve(out) : reject(new Error(`curl ${code}: ${err.trim()}`))));
  });
}

async function waitHttp(port: number): Promise<void> {
  for (let i = 0; i < 100; i++) {
    try {
      await curl(['-f', '-o', '/dev/null', '-I', `http://127.0.0.1:${port}/boot/big.bin`], 2);
      return;
    } catch {
      await new Promise((r) => setTimeout(r, 100));
    }
  }
  throw new Error(`no HTTP server on port ${port}`);
}

function stop(child: ChildProcess): Promise<void> {
  return new Promise((resolve) => {
    if (child.exitCode !== null) return resolve();
    const t = setTimeout(() => child.kill('SIGKILL'), 5000);
    child.once('exit', () => {
      clearTimeout(t);
      resolve();
    });
    process.kill(child.pid!, 'SIGTERM');
  });
}

function nginxConf(dir: string, root: string, port: number): string {
  // nginx-light, two workers (one per core), sendfile: the usual way to serve static boot files.
  return `daemon off;
worker_processes ${cpus().length};
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
  sendfile on;
  tcp_nopush on;
  server {
    listen 127.0.0.1:${port};
    location /boot/ { alias ${root}/; }
  }
}
`;
}

async function measure(port: number): Promise<number> {
  const t0 = process.hrtime.bigint();
  const sizes = await Promise.all(
    Array.from({ length: CONC }, () =>
      curl(['-o', '/dev/null', '-w', '%{size_download}', `http://127.0.0.1:${port}/boot/big.bin`]),
    ),
  );
  const secs = Number(process.hrtime.bigint() - t0) / 1e9;
  for (const s of sizes) if (Number(s) !== SIZE) throw new Error(`short download: ${s}`);
  return (SIZE * CONC) / MiB / secs;
}

async function main(): Promise<void> {
  const dir = mkdtempSync(join(tmpdir(), 'kiln-bench-http-'));
  const root = join(dir, 'root');
  mkdirSync(root);
  chmodSync(dir, 0o755);
  const servers: Server[] = [];
  try {
    const big = randomBytes(SIZE);
    writeFileSync(join(root, 'big.bin'), big);
    const sha = createHash('sha256').update(big).digest('hex');
    const base = 30000 + (process.pid % 20000);
    writeFileSync(join(dir, 'nginx.conf'), nginxConf(dir, root, base));
    const kilnServer = new URL('./http-kiln-server.ts', import.meta.url).pathname;
    const kiln = spawn(process.execPath, ['--import', 'tsx', kilnServer, root, String(base + 1)], { stdio: 'ignore' });
    servers.push({ name: 'kiln', port: base + 1, child: kiln });
    // The same server with http-cache-mib 0: every request streams from disk (files over the cache budget).
    const stream = spawn(process.execPath, ['--import', 'tsx', kilnServer, root, String(base + 2), '0'], {
      stdio: 'ignore',
    });
    servers.push({ name: 'kiln-stream', port: base + 2, child: stream });
    const nginx = spawn('/usr/sbin/nginx', ['-c', join(dir, 'nginx.conf'), '-p', dir], { stdio: 'ignore' });
    servers.push({ name: 'nginx', port: base, child: nginx });
    for (const s of servers) await waitHttp(s.port);
    // Correctness first: both serve the same bytes, HEAD and a Range work.
    for (const s of servers) {
      const local = join(dir, `check-${s.name}`);
      await curl(['-o', local, `http://127.0.0.1:${s.port}/boot/big.bin`]);
      if (createHash('sha256').update(readFileSync(local)).digest('hex') !== sha)
        throw new Error(`${s.name}: bytes differ`);
      rmSync(local);
      const range = await curl([
        '-r',
        '100-199',
        '-o',
        '/dev/null',
        '-w',
        '%{http_code} %{size_download}',
        `http://127.0.0.1:${s.port}/boot/big.bin`,
      ]);
      if (range !== '206 100') throw new Error(`${s.name}: range answered ${range}`);
    }
    const best: Record<string, number> = {};
    for (let r = 0; r < ROUNDS; r++) {
      for (const s of servers) {
        const v = await measure(s.port);
        best[s.name] = Math.max(best[s.name] ?? 0, v);
        console.error(`${s.name.padEnd(11)} round ${r + 1}: ${v.toFixed(0)} MiB/s`);
      }
    }
    console.log(
      `\nHTTP boot files, MiB/s (best of ${ROUNDS}), ${CONC} parallel curl, ${SIZE / MiB} MiB file, 127.0.0.1, ${cpus().length} cores`,
    );
    console.log('kiln: memory cache (default http-cache-mib 256); kiln-stream: http-cache-mib 0, streamed from disk');
    console.log(
      `${'scenario'.padEnd(32)}${'kiln'.padStart(8)}${'kiln-stream'.padStart(13)}${'nginx'.padStart(8)}${'kiln/nginx'.padStart(12)}${'stream/nginx'.padStart(14)}`,
    );
    const ratio = (a: number) => `${(a / best.nginx!).toFixed(2)}x`;
    console.log(
      `${`GET ${SIZE / MiB} MiB x ${CONC} concurrent`.padEnd(32)}${best.kiln!.toFixed(0).padStart(8)}${best['kiln-stream']!.toFixed(0).padStart(13)}${best.nginx!.toFixed(0).padStart(8)}${ratio(best.kiln!).padStart(12)}${ratio(best['kiln-stream']!).padStart(14)}`,
    );
  } finally {
    for (const s of servers) await stop(s.child);
    rmSync(dir, { recursive: true, force: true });
  }
}

await main();

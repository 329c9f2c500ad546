// TFTP throughput: Kiln vs tftpd-hpa (in.tftpd) vs atftpd on 127.0.0.1, with
// curl and atftp as clients. Bounded: every client has a timeout, every server
// is stopped by its PID. Run: npx tsx bench/tftp.bench.ts [--quick]
import { spawn, type ChildProcess } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import { chmodSync, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

const quick = process.argv.includes('--quick');
const MiB = 1024 * 1024;
const BIG = (quick ? 16 : 64) * MiB;
const CONC_SIZE = (quick ? 2 : 8) * MiB;
const CONC = 50;
const ROUNDS = quick ? 1 : 3;

interface Scenario {
  name: string;
  file: string;
  size: number;
  parallel: number;
  client: (port: number, file: string, out: string) => [string, string[]];
}

const curl =
  (extra: string[]) =>
  (port: number, file: string, out: string): [string, string[]] => [
    'curl',
    ['-sS', ...extra, '-o', out, `tftp://127.0.0.1:${port}/${file}`],
  ];
const atftp =
  (opts: string[]) =>
  (port: number, file: string, out: string): [string, string[]] => [
    'atftp',
    ['-g', '-r', file, '-l', out, ...opts.flatMap((o) => ['--option', o]), '127.0.0.1', String(port)],
  ];

const scenarios: Scenario[] = [
  {
    name: `1 stream, ${BIG / MiB} MiB, blksize 1468 (curl)`,
    file: 'big.bin',
    size: BIG,
    parallel: 1,
    client: curl(['--tftp-blksize', '1468']),
  },
  {
    name: `1 stream, ${BIG / MiB} MiB, blksize 1468 (atftp)`,
    file: 'big.bin',
    size: BIG,
    parallel: 1,
    client: atftp(['blksize 1468']),
  },
  {
    name: `1 stream, ${BIG / MiB} MiB, blksize 1468 windowsize 16 (atftp)`,
    file: 'big.bin',
    size: BIG,
    parallel: 1,
    client: atftp(['blksize 1468', 'windowsize 16']),
  },
  {
    name: `${CONC} concurrent, ${CONC_SIZE / MiB} MiB each, blksize 1468 (curl)`,
    file: 'mid.bin',
    size: CONC_SIZE,
    parallel: CONC,
    client: curl(['--tftp-blksize', '1468']),
  },
];

function runClient(cmd: string, args: string[], timeoutMs: number): Promise<void> {
  return new Promise((resolve, reject) => {
    const child = spawn(cmd, args, { stdio: ['ignore', 'ignore', 'pipe'] });
    let err = '';
    child.stderr!.on('data', (d) => {
      err += d;
    });
    const timer = setTimeout(() => child.kill('SIGKILL'), timeoutMs);
    child.on('close', (code) => {
      clearTimeout(timer);
      code === 0 ? resolve() : reject(new Error(`${cmd} exited ${code}: ${err.trim()}`));
    });
  });
}

async function measure(s: Scenario, port: number, outDir: string, expectSha: string): Promise<number> {
  const t0 = process.hrtime.bigint();
  await Promise.all(
    Array.from({ length: s.parallel }, (_, i) => {
      const [cmd, args] = s.client(port, s.file, join(outDir, `o${i}`));
      return runClient(cmd, args, 300_000);
    }),
  );
  const secs = Number(process.hrtime.bigint() - t0) / 1e9;
  for (let i = 0; i < s.parallel; i++) {
    const p = join(outDir, `o${i}`);
    if (statSync(p).size !== s.size) throw new Error(`${s.name}: short file ${p}`);
    if (i === 0 && createHash('sha256').update(readFileSync(p)).digest('hex') !== expectSha)
      throw new Error(`${s.name}: bytes differ`);
    rmSync(p);
  }
  return (s.size * s.parallel) / MiB / secs;
}

interface Server {
  name: string;
  port: number;
  stop: () => Promise<void>;
}

function waitPort(port: number): Promise<void> {
  // Probe by fetching a missing file: any TFTP answer means the server is up (bounded: 50 tries).
  return (async () => {
    for (let i = 0; i < 50; i++) {
      const ok = await new Promise<boolean>((resolve) => {
        const c = spawn('curl', ['-s', '--max-time', '1', '-o', '/dev/null', `tftp://127.0.0.1:${port}/probe-missing`]);
        c.on('close', (code) => resolve(code === 68));
      });
      if (ok) return;
      await new Promise((r) => setTimeout(r, 100));
    }
    throw new Error(`no TFTP server on port ${port}`);
  })();
}

function stopChild(child: ChildProcess): Promise<void> {
  return new Promise((resolve) => {
    if (child.exitCode !== null) return resolve();
    const t = setTimeout(() => {
      child.kill('SIGKILL');
    }, 3000);
    child.once('exit', () => {
      clearTimeout(t);
      resolve();
    });
    process.kill(child.pid!, 'SIGTERM');
  });
}

async function startPeer(name: string, cmd: string, args: (port: number) => string[], port: number): Promise<Server> {
  const child = spawn(cmd, args(port), { stdio: 'ignore' });
  await waitPort(port);
  return { name, port, stop: () => stopChild(child) };
}

async function main(): Promise<void> {
  const dir = mkdtempSync(join(tmpdir(), 'kiln-bench-tftp-'));
  const root = join(dir, 'root');
  const out = join(dir, 'out');
  try {
    for (const d of [root, out]) {
      (await import('node:fs')).mkdirSync(d);
    }
    chmodSync(dir, 0o755);
    chmodSync(root, 0o755);
    chmodSync(out, 0o777);
    const big = randomBytes(BIG);
    const mid = big.subarray(0, CONC_SIZE);
    writeFileSync(join(root, 'big.bin'), big);
    writeFileSync(join(root, 'mid.bin'), mid);
    const shas: Record<string, string> = {
      'big.bin': createHash('sha256').update(big).digest('hex'),
      'mid.bin': createHash('sha256').update(mid).digest('hex'),
    };
    const basePort = 20000 + (process.pid % 20000);
    const starters: Array<() => Promise<Server>> = [
      () =>
        startPeer(
          'kiln',
          process.execPath,
          (p) => [
            '--import',
            'tsx',
            new URL('./tftp-kiln-server.ts', import.meta.url).pathname,
            root,
            String(p),
            'native',
            '0',
          ],
          basePort + 2,
        ),
      () =>
        startPeer(
          'kiln-n19',
          process.execPath,
          (p) => [
            '--import',
            'tsx',
            new URL('./tftp-kiln-server.ts', import.meta.url).pathname,
            root,
            String(p),
            'native',
            '19',
          ],
          basePort + 4,
        ),
      () =>
        startPeer(
          'kiln-js',
          process.execPath,
          (p) => ['--import', 'tsx', new URL('./tftp-kiln-server.ts', import.meta.url).pathname, root, String(p), 'js'],
          basePort + 3,
        ),
      () => startPeer('tftpd-hpa', '/usr/sbin/in.tftpd', (p) => ['-L', '-s', root, '-a', `127.0.0.1:${p}`], basePort),
      () =>
        startPeer(
          'atftpd',
          '/opt/kiln-peers/usr/sbin/atftpd',
          (p) => [
            '--daemon',
            '--no-fork',
            '--logfile',
            '/dev/null',
            '--maxthread',
            '200',
            '--port',
            String(p),
            '--bind-address',
            '127.0.0.1',
            root,
          ],
          basePort + 1,
        ),
    ];
    const results: Record<string, Record<string, number>> = {};
    // All servers run at once and rounds interleave them, so load from other work on the machine hits each alike.
    const servers: Server[] = [];
    try {
      for (const start of starters) servers.push(await start());
      for (const s of scenarios) {
        for (let r = 0; r < ROUNDS; r++) {
          for (const server of servers) {
            let v = 0;
            try {
              v = await measure(s, server.port, out, shas[s.file]!);
            } catch (err) {
              console.error(`${server.name} / ${s.name}: ${(err as Error).message}`);
            }
            const row = (results[s.name] ??= {});
            row[server.name] = Math.max(row[server.name] ?? 0, v);
            console.error(`${server.name.padEnd(10)} ${s.name}: ${v.toFixed(1)} MiB/s`);
          }
        }
      }
    } finally {
      for (const server of servers) await server.stop();
    }
    const f = (n: number | undefined): string => (n ? n.toFixed(1) : 'fail').padStart(9);
    const ratio = (a?: number, b?: number): string => (a && b ? `${(a / b).toFixed(2)}x` : '-').padStart(10);
    console.log(
      `\nTFTP throughput, MiB/s (best of ${ROUNDS}), 127.0.0.1, ${(await import('node:os')).cpus().length} cores`,
    );
    console.log('kiln = native engine (native/tftp-pump), threads at nice 0 like the peers; kiln-js = tftp.engine js;');
    console.log(
      'kiln-n19 = native at tftp.nativeNice 19, the controller default: it yields the CPU to the clients here, which share the cores',
    );
    console.log(
      `${'scenario'.padEnd(58)}${'kiln'.padStart(9)}${'kiln-n19'.padStart(9)}${'kiln-js'.padStart(9)}${'tftpd-hpa'.padStart(10)}${'atftpd'.padStart(9)}${'kiln/hpa'.padStart(10)}${'kiln/atftpd'.padStart(12)}`,
    );
    for (const s of scenarios) {
      const r = results[s.name] ?? {};
      console.log(
        `${s.name.padEnd(58)}${f(r.kiln)}${f(r['kiln-n19'])}${f(r['kiln-js'])}${f(r['tftpd-hpa']).padStart(10)}${f(r.atftpd)}${ratio(r.kiln, r['tftpd-hpa'])}${ratio(r.kiln, r.atftpd).padStart(12)}`,
      );
    }
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

await main();

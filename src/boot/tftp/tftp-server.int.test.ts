// Interop: real TFTP clients (tftp-hpa, curl, atftp) against Kiln's server on
// 127.0.0.1 with an ephemeral port. Every child is bounded by a timeout.
import { describe, test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import {
  existsSync,
  mkdirSync,
  mkdtempSync,
  readFileSync,
  readdirSync,
  rmSync,
  symlinkSync,
  writeFileSync,
} from 'node:fs';
import { createSocket } from 'node:dgram';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { encodeTftp, decodeTftp } from '../../protocols/tftp/packet.js';
import { createDirectorySource } from './directory-source.js';
import { startTftpServer, type TftpServer } from './tftp-server.js';
import { defaultTftpConfig } from './tftp-config.js';
import type { TftpTransferOutcome } from './tftp-transfer.js';
import { loadTftpPump } from './tftp-pump.js';

const tools = { tftp: '/usr/bin/tftp', curl: '/usr/bin/curl', atftp: '/usr/bin/atftp' };
const missing = Object.entries(tools)
  .filter(([, p]) => !existsSync(p))
  .map(([n]) => n);
const skip = missing.length > 0 ? `client(s) not installed: ${missing.join(', ')}` : false;

let dir = '';
let root = '';
let out = '';
const sha = (b: Uint8Array): string => createHash('sha256').update(b).digest('hex');
const files: Record<string, Buffer> = {};

function run(
  cmd: string,
  args: string[],
  timeoutMs = 30_000,
): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    execFile(cmd, args, { timeout: timeoutMs, killSignal: 'SIGKILL', maxBuffer: 1 << 20 }, (err, stdout, stderr) => {
      const code = err ? (typeof err.code === 'number' ? err.code : -1) : 0;
      resolve({ code, stdout: String(stdout), stderr: String(stderr) });
    });
  });
}

before(async () => {
  if (skip) return;
  dir = mkdtempSync(join(tmpdir(), 'kiln-tftp-int-'));
  root = join(dir, 'root');
  out = join(dir, 'out');
  mkdirSync(join(root, 'boot'), { recursive: true });
  mkdirSync(out);
  files['small.bin'] = randomBytes(100_000);
  files['boot/kernel'] = randomBytes(3 * 1024 * 1024 + 17);
  files['exact.bin'] = randomBytes(512 * 8);
  for (const [name, bytes] of Object.entries(files)) writeFileSync(join(root, name), bytes);
  writeFileSync(join(dir, 'secret'), 'outside the root');
  symlinkSync(join(dir, 'secret'), join(root, 'escape'));
});

after(() => {
  if (dir) rmSync(dir, { recursive: true, force: true });
});

function assertSame(local: string, name: string): void {
  assert.equal(sha(readFileSync(local)), sha(files[name]), `${name} bytes match`);
}

// Both engines meet the same clients: native (native/tftp-pump) and the TypeScript transfer.
const nativeSkip = 'addon' in loadTftpPump() ? false : 'native/tftp-pump is not built (npm ci builds it)';
for (const engine of ['native', 'js'] as const)
  describe(`engine ${engine}`, { skip: skip || (engine === 'native' && nativeSkip) }, () => {
    let server: TftpServer;
    let port = 0;
    const outcomes: TftpTransferOutcome[] = [];

    before(async () => {
      server = await startTftpServer({
        config: { ...defaultTftpConfig, address: '127.0.0.1', retransmitMs: 200, maxRetries: 3, engine },
        source: await createDirectorySource(root),
        port: 0,
        onTransferEnd: (e) => outcomes.push(e.outcome),
      });
      port = server.address.port;
      assert.equal(server.engine, engine);
    });

    after(async () => {
      await server?.close();
    });

    test('tftp-hpa fetches in octet mode (no options)', async () => {
      for (const name of ['small.bin', 'exact.bin', 'boot/kernel']) {
        const local = join(out, `hpa-${name.replace('/', '_')}`);
        const r = await run(tools.tftp, ['-v', '-m', 'octet', '127.0.0.1', String(port), '-c', 'get', name, local]);
        assert.equal(r.code, 0, r.stdout + r.stderr);
        assert.match(r.stdout, /Received \d+ bytes/);
        assertSame(local, name);
      }
    });

    test('curl fetches with --tftp-blksize and with --tftp-no-options', async () => {
      const a = join(out, 'curl-blk');
      let r = await run(tools.curl, ['-sS', '--tftp-blksize', '1468', '-o', a, `tftp://127.0.0.1:${port}/boot/kernel`]);
      assert.equal(r.code, 0, r.stderr);
      assertSame(a, 'boot/kernel');
      const b = join(out, 'curl-noopt');
      r = await run(tools.curl, ['-sS', '--tftp-no-options', '-o', b, `tftp://127.0.0.1:${port}/small.bin`]);
      assert.equal(r.code, 0, r.stderr);
      assertSame(b, 'small.bin');
    });

    test('atftp fetches with blksize, windowsize and tsize options', async () => {
      const local = join(out, 'atftp-win');
      const r = await run(tools.atftp, [
        '--verbose',
        '-g',
        '-r',
        'boot/kernel',
        '-l',
        local,
        '--option',
        'blksize 1468',
        '--option',
        'windowsize 16',
        '--option',
        'tsize 0',
        '127.0.0.1',
        String(port),
      ]);
      assert.equal(r.code, 0, r.stdout + r.stderr);
      assert.match(r.stdout + r.stderr, /windowsize.*16|16.*windowsize/i);
      assertSame(local, 'boot/kernel');
    });

    test('path escapes fail with a TFTP error from every client', async () => {
      const sink = join(out, 'escape');
      for (const name of ['../etc/passwd', 'escape', 'boot/../../secret']) {
        const r = await run(tools.tftp, ['-m', 'octet', '127.0.0.1', String(port), '-c', 'get', name, sink]);
        assert.match(r.stdout + r.stderr, /Error code 2: access violation/, `tftp-hpa ${name}`);
      }
      // A leading '/' means the TFTP root (like in.tftpd -s), so /etc/passwd is simply not there.
      const abs = await run(tools.tftp, ['-m', 'octet', '127.0.0.1', String(port), '-c', 'get', '/etc/passwd', sink]);
      assert.match(abs.stdout + abs.stderr, /Error code 1: file not found/);
      // curl 69 = "permission problem on TFTP server" (ERROR 2); --path-as-is keeps the '..'.
      const c = await run(tools.curl, ['-sS', '--path-as-is', '-o', sink, `tftp://127.0.0.1:${port}/../etc/passwd`]);
      assert.equal(c.code, 69, c.stderr);
      const a = await run(tools.atftp, ['-g', '-r', 'escape', '-l', sink, '127.0.0.1', String(port)]);
      assert.notEqual(a.code, 0);
      assert.match(a.stdout + a.stderr, /access violation/);
      assert.ok(!existsSync(sink) || readFileSync(sink, 'utf8') !== 'outside the root');
    });

    test('200 concurrent curl fetches all succeed with the right bytes', { timeout: 120_000 }, async () => {
      const before = outcomes.length;
      const jobs = Array.from({ length: 200 }, (_, i) => {
        const local = join(out, `c${i}`);
        const args = i % 2 === 0 ? ['--tftp-blksize', '1468'] : [];
        return run(tools.curl, ['-sS', ...args, '-o', local, `tftp://127.0.0.1:${port}/small.bin`], 90_000).then(
          (r) => ({ r, local }),
        );
      });
      const results = await Promise.all(jobs);
      for (const { r, local } of results) {
        assert.equal(r.code, 0, r.stderr);
        assertSame(local, 'small.bin');
      }
      // curl exits once it has sent the last ACK; the server reports the outcome after reading it (from a worker thread).
      const until = Date.now() + 10_000;
      while (outcomes.length - before < 200 && Date.now() < until) await new Promise((r) => setTimeout(r, 20));
      assert.equal(outcomes.slice(before).filter((o) => o === 'complete').length, 200);
    });

    test('a client that vanishes mid-transfer costs nothing after its timeout', { timeout: 20_000 }, async () => {
      const fds = (): number => readdirSync('/proc/self/fd').length;
      const baseline = fds();
      const before = outcomes.length;
      const sock = createSocket('udp4');
      await new Promise<void>((r) => sock.bind(0, '127.0.0.1', () => r()));
      const got: number[] = [];
      sock.on('message', (m) => {
        const p = decodeTftp(m);
        if (p.op === 'data') got.push(p.block);
      });
      sock.send(encodeTftp({ op: 'rrq', filename: 'boot/kernel', mode: 'octet', options: [] }), port, '127.0.0.1');
      const deadline = Date.now() + 2000;
      while (got.length === 0 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 10));
      assert.ok(got.length > 0, 'block 1 arrived');
      sock.close(); // the client vanishes without a word
      // 200 + 400 + 800 + 1600 ms of back-off, then the transfer is dropped.
      const until = Date.now() + 10_000;
      while (outcomes.length === before && Date.now() < until) await new Promise((r) => setTimeout(r, 50));
      assert.deepEqual(outcomes.slice(before), ['timeout']);
      assert.equal(server.activeTransfers, 0);
      assert.equal(fds(), baseline, 'the transfer socket and the file descriptor are closed');
    });
  });

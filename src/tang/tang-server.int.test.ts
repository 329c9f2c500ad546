import assert from 'node:assert/strict';
import { execFileSync, spawn } from 'node:child_process';
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { connect } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { createMemoryLogger } from '../log/logger.js';
import { ensureTangKeys, TANGD, TANGD_KEYGEN } from './tang-keys.js';
import { startTang, type RunningTang } from './tang-server.js';

const missing = [TANGD, TANGD_KEYGEN, '/usr/bin/clevis', '/usr/bin/jose'].filter((p) => !existsSync(p));

/**
 * Runs clevis (bounded: 20 s) with `input` on stdin. Asynchronous: the Tang
 * server it talks to runs in this process, so a synchronous run would block
 * the very event loop that must accept its connection.
 */
function clevis(
  args: string[],
  input: string | Buffer,
): Promise<{ code: number | null; stdout: Buffer; stderr: string }> {
  return new Promise((resolve, reject) => {
    const child = spawn('clevis', args, { stdio: ['pipe', 'pipe', 'pipe'] });
    const out: Buffer[] = [];
    let err = '';
    const timer = setTimeout(() => child.kill('SIGKILL'), 20_000);
    child.stdout.on('data', (b: Buffer) => out.push(b));
    child.stderr.on('data', (b: Buffer) => (err += b.toString()));
    child.on('error', reject);
    child.on('close', (code) => {
      clearTimeout(timer);
      resolve({ code, stdout: Buffer.concat(out), stderr: err });
    });
    child.stdin.end(input);
  });
}

describe(
  "Kiln's Tang server against the real Clevis",
  { skip: missing.length > 0 && `needs Debian's tang, clevis and jose packages (${missing.join(', ')} missing)` },
  () => {
    const dir = mkdtempSync(join(tmpdir(), 'kiln-tang-'));
    const keys = join(dir, 'tang');
    const log = createMemoryLogger();
    let tang: RunningTang;
    let thumbprint = '';
    before(async () => {
      execFileSync('mkdir', ['-m', '0700', keys]);
      thumbprint = await ensureTangKeys(keys);
      tang = await startTang({ host: '127.0.0.1', port: 0, keysDir: keys, log, connectionTimeoutMs: 1500 });
    });
    after(async () => {
      await tang?.close();
      rmSync(dir, { recursive: true, force: true });
    });

    test("the thumbprint is jose's S256 thumbprint of the signing key, and keys are made once", async () => {
      const files = readdirSync(keys).filter((f) => f.endsWith('.jwk'));
      assert.equal(files.length, 2, 'tangd-keygen makes a signing and an exchange key');
      const sig = files.find(
        (f) => (JSON.parse(readFileSync(join(keys, f), 'utf8')) as { alg: string }).alg === 'ES512',
      )!;
      const jose = execFileSync('jose', ['jwk', 'thp', '-i', join(keys, sig), '-a', 'S256'], { encoding: 'utf8' });
      assert.equal(thumbprint, jose.trim());
      assert.equal(`${thumbprint}.jwk`, sig, 'tangd-keygen names the key by its thumbprint');
      assert.equal(await ensureTangKeys(keys), thumbprint, 'a second start keeps the keys');
      assert.equal(readdirSync(keys).length, 2);
    });

    test('clevis encrypt tang pinned to the thumbprint, then clevis decrypt, gives the secret back', async () => {
      const config = JSON.stringify({ url: `http://127.0.0.1:${tang.port}`, thp: thumbprint });
      const secret = 'kiln luks key 0123456789';
      const enc = await clevis(['encrypt', 'tang', config], secret);
      assert.equal(enc.code, 0, enc.stderr);
      const jwe = enc.stdout.toString();
      assert.match(jwe, /^[A-Za-z0-9_-]+\.\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+$/, 'a compact JWE');
      assert.ok(!jwe.includes(secret));
      const dec = await clevis(['decrypt'], jwe);
      assert.equal(dec.code, 0, dec.stderr);
      assert.equal(dec.stdout.toString(), secret);
      assert.ok(
        log.lines.some(
          (l) =>
            l.msg === 'tang: request served' &&
            /GET \/adv\S* => 200/.test(String((l.obj as { request?: string }).request)),
        ),
        'tangd logged the advertisement request',
      );
      assert.ok(log.lines.some((l) => /POST \/rec\/.* => 200/.test(String((l.obj as { request?: string }).request))));
    });

    test('a binding pinned to another thumbprint is refused', async () => {
      const config = JSON.stringify({ url: `http://127.0.0.1:${tang.port}`, thp: 'A'.repeat(43) });
      const enc = await clevis(['encrypt', 'tang', config], 'x');
      assert.notEqual(enc.code, 0);
      assert.match(enc.stderr, /Unable to fetch advertisement|Trusted JWK|not found/i);
    });

    test('a connection that sends nothing is killed after the time limit; the server keeps serving', async () => {
      const sock = connect(tang.port, '127.0.0.1');
      const closedAt = await new Promise<number>((resolve, reject) => {
        const t0 = Date.now();
        sock.on('error', reject);
        sock.on('close', () => resolve(Date.now() - t0));
        setTimeout(() => reject(new Error('not closed within 10 s')), 10_000).unref();
      });
      assert.ok(closedAt >= 1000 && closedAt < 8000, `closed after ${closedAt} ms`);
      assert.ok(log.lines.some((l) => l.level === 'warn' && /ran longer than 1500 ms/.test(l.msg ?? '')));
      assert.equal(tang.active(), 0);
      const config = JSON.stringify({ url: `http://127.0.0.1:${tang.port}`, thp: thumbprint });
      assert.equal((await clevis(['encrypt', 'tang', config], 'y')).code, 0);
    });

    test('with the Tang server stopped, clevis decrypt fails: the secret needs Tang', async () => {
      const config = JSON.stringify({ url: `http://127.0.0.1:${tang.port}`, thp: thumbprint });
      const jwe = (await clevis(['encrypt', 'tang', config], 'needs tang')).stdout;
      await tang.close();
      const dec = await clevis(['decrypt'], jwe);
      assert.notEqual(dec.code, 0);
      assert.equal(dec.stdout.length, 0);
    });
  },
);

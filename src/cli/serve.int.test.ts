import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { chmodSync, existsSync, mkdirSync, mkdtempSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { createServer, type Server } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { freePort, runKiln, startServe } from '../../test/support/serve-process.js';
import { runCli } from './main.js';

const tmp = () => mkdtempSync(join(tmpdir(), 'kiln-serve-'));

/** Runs the CLI in this process (as bin/kiln.mjs would, minus the exit): exit code and what it printed. */
async function runInProcess(argv: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  let stdout = '';
  let stderr = '';
  let stop: (() => Promise<void>) | undefined;
  const code = await runCli(
    argv,
    { ...process.env },
    {
      out: (t) => {
        stdout += `${t}\n`;
      },
      err: (t) => {
        stderr += `${t}\n`;
      },
    },
    (s) => {
      stop = s;
    },
  );
  await stop?.();
  return { code, stdout, stderr };
}

describe('kiln serve as a process', () => {
  it('first start creates an admin token, prints it once and writes it 0600; the CLI uses it', async () => {
    const dir = tmp();
    const s = await startServe(['--data-dir', dir]);
    try {
      const token = readFileSync(join(dir, 'admin-token'), 'utf8').trim();
      assert.match(token, /^kt_[A-Za-z0-9_-]{43}$/);
      assert.equal(statSync(join(dir, 'admin-token')).mode & 0o777, 0o600);
      assert.equal(s.output().split(token).length - 1, 1, 'token printed exactly once');
      const env = { KILN_SERVER: s.url, KILN_TOKEN: token };
      const add = await runKiln(['host', 'add', 'cli-1', '--mac', '52:54:00:c1:00:01', '--tag', 'lab', '--json'], env);
      assert.equal(add.code, 0, add.stderr);
      assert.equal(JSON.parse(add.stdout).name, 'cli-1');
      const list = await runKiln(['host', 'list'], env);
      assert.match(
        list.stdout,
        /^NAME\s+STATE\s+PROFILE\s+BOOT MAC\s+TAGS\s+HEALTH\ncli-1\s+new\s+-\s+52:54:00:c1:00:01\s+lab\s+-$/m,
      );
      const dup = await runKiln(['host', 'add', 'cli-1'], env);
      assert.equal(dup.code, 4);
      assert.match(dup.stderr, /already exists.*\[conflict\]/);
      const missing = await runKiln(['host', 'show', 'nope'], env);
      assert.equal(missing.code, 3);
      const weak = await runKiln(['token', 'create', 'v', '--role', 'viewer'], env);
      assert.equal(weak.code, 0);
      const denied = await runKiln(['host', 'delete', 'cli-1'], { KILN_SERVER: s.url, KILN_TOKEN: weak.stdout.trim() });
      assert.equal(denied.code, 5);
      const ev = await runKiln(['host', 'events', 'cli-1', '--json'], env);
      assert.equal(JSON.parse(ev.stdout)[0].kind, 'host.created');
    } finally {
      s.child.kill('SIGTERM');
      assert.equal(await s.exited, 0);
    }
    const again = await startServe(['--data-dir', dir]);
    again.child.kill('SIGTERM');
    await again.exited;
    assert.ok(!/First start/.test(again.output()), 'second start does not create another token');
  });

  it('every write acknowledged before SIGKILL is there after restart (SQLite)', async () => {
    const dir = tmp();
    const s = await startServe(['--data-dir', dir]);
    const token = readFileSync(join(dir, 'admin-token'), 'utf8').trim();
    const headers = { authorization: `Bearer ${token}`, 'content-type': 'application/json' };
    const acked: string[] = [];
    let attempted = 0;
    const worker = async (w: number) => {
      for (let i = 0; i < 400; i++) {
        const name = `burst-${w}-${i}`;
        attempted++;
        try {
          const res = await fetch(`${s.url}/api/v1/hosts`, {
            method: 'POST',
            headers,
            body: JSON.stringify({
              name,
              nics: [
                { mac: `02:00:00:00:${w.toString(16).padStart(2, '0')}:${(i % 256).toString(16).padStart(2, '0')}` },
              ].slice(0, i < 256 ? 1 : 0),
            }),
            signal: AbortSignal.timeout(5000),
          });
          if (res.status === 201) acked.push(name);
        } catch {
          return;
        }
      }
    };
    const workers = [0, 1, 2, 3, 4, 5, 6, 7].map(worker);
    // Kill once a good number of writes are acknowledged (bounded wait).
    for (let i = 0; i < 200 && acked.length < 150; i++) await new Promise((r) => setTimeout(r, 50));
    s.child.kill('SIGKILL');
    await Promise.all(workers);
    assert.equal(await s.exited, 'SIGKILL');
    assert.ok(acked.length >= 50, `only ${acked.length} writes acknowledged before the kill`);
    assert.ok(attempted > acked.length, 'the kill landed in the middle of the burst');

    const again = await startServe(['--data-dir', dir]);
    try {
      const found = new Set<string>();
      let after = '';
      for (let page = 0; page < 100; page++) {
        const res = await fetch(`${again.url}/api/v1/hosts?prefix=burst-&limit=1000${after ? `&after=${after}` : ''}`, {
          headers,
        });
        const body = (await res.json()) as { items: Array<{ name: string }>; next: string | null };
        body.items.forEach((h) => found.add(h.name));
        if (!body.next) break;
        after = body.next;
      }
      const lost = acked.filter((n) => !found.has(n));
      assert.deepEqual(lost, [], `${lost.length} acknowledged writes lost`);
      const evRes = await fetch(`${again.url}/api/v1/events?kind=host.created&limit=1000`, { headers });
      const events = ((await evRes.json()) as { items: Array<{ subject: string }> }).items.map((e) => e.subject);
      assert.ok(
        acked.every((n) => events.includes(n)),
        'every acknowledged host has its event',
      );
    } finally {
      again.child.kill('SIGTERM');
      await again.exited;
    }
  });

  it('the API answers on HTTPS; the CLI connects with the pinned fingerprint and refuses another', async () => {
    const dir = tmp();
    const s = await startServe(['--data-dir', dir]);
    try {
      const token = readFileSync(join(dir, 'admin-token'), 'utf8').trim();
      const fp = /"fingerprint":"(sha256:[0-9A-F:]+)"/.exec(s.output())?.[1];
      assert.ok(fp, 'serve logs the certificate fingerprint');
      const ok = await runKiln(['host', 'list', '--json'], {
        KILN_SERVER: s.tlsUrl,
        KILN_TOKEN: token,
        KILN_CA_FINGERPRINT: fp,
      });
      assert.equal(ok.code, 0, ok.stderr);
      assert.deepEqual(JSON.parse(ok.stdout), []);
      const wrong = fp.replace(/^sha256:(..)/, (_, b: string) => `sha256:${b === 'AA' ? 'BB' : 'AA'}`);
      const bad = await runKiln(['host', 'list'], {
        KILN_SERVER: s.tlsUrl,
        KILN_TOKEN: token,
        KILN_CA_FINGERPRINT: wrong,
      });
      assert.equal(bad.code, 6);
      assert.match(bad.stderr, /refusing https:\/\/127\.0\.0\.1:\d+: .*presented sha256:/);
      const withCa = await runKiln(['host', 'list'], {
        KILN_SERVER: s.tlsUrl,
        KILN_TOKEN: token,
        KILN_CA_FILE: join(dir, 'tls', 'ca.pem'),
      });
      assert.equal(withCa.code, 0, withCa.stderr);
    } finally {
      s.child.kill('SIGTERM');
      await s.exited;
    }
  });

  it('ssh and secrets commands: known_hosts line, user certificate that ssh-keygen reads, password hashed by the controller', async () => {
    const dir = tmp();
    const s = await startServe(['--data-dir', dir]);
    try {
      const env = { KILN_SERVER: s.url, KILN_TOKEN: readFileSync(join(dir, 'admin-token'), 'utf8').trim() };
      const kh = await runKiln(['ssh', 'known-hosts'], env);
      assert.equal(kh.code, 0, kh.stderr);
      assert.match(kh.stdout, /^@cert-authority \* ssh-ed25519 AAAA\S+( \S+)?\n$/);
      writeFileSync(join(dir, 'pw'), 'Site-Root-Pw-123\n', { mode: 0o600 });
      const set = await runKiln(['secrets', 'set', '--root-password-file', join(dir, 'pw')], env);
      assert.equal(set.code, 0, set.stderr);
      assert.match(set.stdout, /root password: set; authorized keys: 0/);
      execFileSync('ssh-keygen', ['-q', '-t', 'ed25519', '-N', '', '-f', join(dir, 'op'), '-C', 'op']);
      const cert = await runKiln(['ssh', 'sign-user', join(dir, 'op.pub'), '--principal', 'root', '--hours', '2'], env);
      assert.equal(cert.code, 0, cert.stderr);
      writeFileSync(join(dir, 'op-cert.pub'), cert.stdout);
      const shown = execFileSync('ssh-keygen', ['-L', '-f', join(dir, 'op-cert.pub')], { encoding: 'utf8' });
      assert.match(shown, /Type: ssh-ed25519-cert-v01@openssh\.com user certificate/);
      assert.match(shown, /Principals: \n\s+root\n/);
    } finally {
      s.child.kill('SIGTERM');
      await s.exited;
    }
  });

  it('relative path settings are resolved against the working directory; every directory Kiln needs is created', async () => {
    const cwd = tmp();
    mkdirSync(join(cwd, 'ipxe'));
    writeFileSync(join(cwd, 'ipxe', 'undionly.kpxe'), 'ipxe-bytes');
    // The quick start's own form: relative data, profile and iPXE directories, run from the checkout.
    const s = await startServe(
      ['--data-dir', './kiln-data', '--profiles-dir', 'profiles', '--ipxe-dir', 'ipxe'],
      {},
      30_000,
      cwd,
    );
    try {
      for (const d of ['kiln-data', 'kiln-data/images', 'kiln-data/cache', 'kiln-data/ssh', 'kiln-data/tls']) {
        assert.ok(statSync(join(cwd, d)).isDirectory(), `${d} created`);
        assert.equal(statSync(join(cwd, d)).mode & 0o777, 0o700, `${d} is 0700`);
      }
      assert.equal(statSync(join(cwd, 'kiln-data', 'admin-token')).mode & 0o777, 0o600);
      const res = await fetch(`${s.url}/ipxe/undionly.kpxe`);
      assert.equal(res.status, 200);
      assert.equal(await res.text(), 'ipxe-bytes');
      assert.ok(!/must be an absolute path|must exist/.test(s.output()), s.output());
    } finally {
      s.child.kill('SIGTERM');
      assert.equal(await s.exited, 0);
    }
  });

  it('each start-up failure is one line naming the setting and the fix, exit code 6', async () => {
    const busy: Server = createServer();
    const busyPort = await new Promise<number>((r) =>
      busy.listen(0, '127.0.0.1', () => r((busy.address() as { port: number }).port)),
    );
    const dir = tmp();
    writeFileSync(join(dir, 'a-file'), '');
    const locked = join(dir, 'locked');
    mkdirSync(locked, { mode: 0o755 });
    chmodSync(dir, 0o755);
    const asRoot = process.getuid?.() === 0;
    const free = `127.0.0.1:${await freePort()}`;
    const cases: Array<{ name: string; args: string[]; want: RegExp; user?: boolean }> = [
      {
        name: 'data-dir is a file',
        args: ['--data-dir', join(dir, 'a-file'), '--listen', free],
        want: /^error: data-dir \S+a-file: is not a directory.*--data-dir or KILN_DATA_DIR/,
      },
      {
        name: 'data-dir under a file',
        args: ['--data-dir', join(dir, 'a-file', 'sub'), '--listen', free],
        want: /^error: data-dir \S+: is not a directory.*--data-dir or KILN_DATA_DIR/,
      },
      // Root writes anywhere: the unwritable case runs as nobody (uid 65534) when the test is root.
      {
        name: 'data-dir not writable',
        args: ['--data-dir', locked, '--listen', free],
        want: /^error: data-dir \S+locked: is not writable.*--data-dir or KILN_DATA_DIR/,
        user: true,
      },
      {
        name: 'listen port in use',
        args: ['--data-dir', join(dir, 'd1'), '--listen', `127.0.0.1:${busyPort}`],
        want: /^error: listen 127\.0\.0\.1:\d+: the address is already in use.*--listen or KILN_LISTEN/,
      },
      {
        name: 'tls-listen port in use',
        args: ['--data-dir', join(dir, 'd2'), '--listen', free, '--tls-listen', `127.0.0.1:${busyPort}`],
        want: /^error: tls-listen 127\.0\.0\.1:\d+: the address is already in use.*--tls-listen or KILN_TLS_LISTEN/,
      },
      {
        name: 'bad config value',
        args: ['--data-dir', join(dir, 'd3'), '--http-cache-mib', 'lots'],
        want: /^error: invalid configuration: flag --http-cache-mib="lots": expected a whole number/,
      },
    ];
    try {
      for (const c of cases) {
        if (c.user && !asRoot) continue;
        const argv = ['serve', '--tls-listen', '', '--node-image', 'off', '--log-level', 'error', ...c.args];
        // In process (fast) unless the case needs another user; the process form is covered by the cases around.
        const r = c.user
          ? await runKiln(argv, { HOME: dir }, 30_000, { uid: 65534, gid: 65534, cwd: dir })
          : await runInProcess(argv);
        assert.equal(r.code, 6, `${c.name}: exit code (stderr: ${r.stderr})`);
        const lines = r.stderr.split('\n').filter(Boolean);
        assert.equal(lines.length, 1, `${c.name}: one line, got:\n${r.stderr}`);
        assert.match(lines[0], c.want, c.name);
        assert.match(lines[0], /\[config_invalid\]$/, c.name);
        assert.ok(!/\n\s+at /.test(r.stdout + r.stderr), `${c.name}: no stack trace`);
      }
    } finally {
      busy.close();
    }
  });

  it('a bad config value stops start-up naming the setting', async () => {
    const r = await runKiln(['serve', '--data-dir', tmp(), '--listen', 'localhost', '--log-level', 'chatty']);
    assert.equal(r.code, 6);
    assert.match(r.stderr, /flag --listen="localhost": expected HOST:PORT/);
    assert.match(r.stderr, /flag --log-level="chatty": expected one of debug, info, warn, error/);
  });

  it('a bad or unknown key in a config section stops start-up before anything is created: no data dir, no admin token', async () => {
    const dir = tmp();
    const cases: Array<{ name: string; yaml: string; want: RegExp }> = [
      {
        name: 'bad dhcp value',
        yaml: 'dhcp:\n  enabled: true\n  subnets: [{ cidr: 10.20.0.0/24, mode: fulll, relayed: true }]\n',
        want: /^error: invalid configuration: dhcp\.subnets\.0\.mode: expected one of off, proxy, reservation, full, got "fulll"/,
      },
      {
        name: 'unknown key in a section',
        yaml: 'tftp: { enabled: true, maxTransfer: 3 }\n',
        want: /^error: invalid configuration: config file: unknown key "tftp\.maxTransfer" \(did you mean "tftp\.maxTransfers"\?\)/,
      },
      {
        name: 'unknown section',
        yaml: 'power: { pollSeconds: 5 }\n',
        want: /^error: invalid configuration: config file: unknown section "power"/,
      },
      {
        name: 'attached subnet this machine has no address in',
        yaml: 'dhcp:\n  enabled: true\n  subnets: [{ cidr: 198.51.100.0/24, mode: full, attached: true }]\n',
        want: /^error: invalid configuration: dhcp\.subnets\.0 \(198\.51\.100\.0\/24\): attached: true, but no interface/,
      },
    ];
    for (const [i, c] of cases.entries()) {
      const file = join(dir, `kiln-${i}.yaml`);
      writeFileSync(file, c.yaml);
      const data = join(dir, `data-${i}`);
      const r = await runInProcess([
        'serve',
        '--config',
        file,
        '--data-dir',
        data,
        '--listen',
        `127.0.0.1:${await freePort()}`,
        '--tls-listen',
        '',
        '--node-image',
        'off',
      ]);
      assert.equal(r.code, 6, `${c.name}: exit code (stderr: ${r.stderr})`);
      const lines = r.stderr.split('\n').filter(Boolean);
      assert.equal(lines.length, 1, `${c.name}: one line, got:\n${r.stderr}`);
      assert.match(lines[0], c.want, c.name);
      assert.match(lines[0], /\[config_invalid\]$/, c.name);
      assert.ok(!existsSync(data), `${c.name}: the data dir is not created (nor the store, nor the admin token)`);
      assert.ok(!/First start/.test(r.stdout), `${c.name}: no admin token printed`);
    }
  });

  it('an unreachable PostgreSQL stops start-up with store_unavailable', async () => {
    const port = await freePort();
    const r = await runKiln([
      'serve',
      '--data-dir',
      tmp(),
      '--database-url',
      `postgres://kiln:s3cret@127.0.0.1:${port}/kiln`,
    ]);
    assert.equal(r.code, 6);
    assert.match(
      r.stderr,
      /cannot reach PostgreSQL at postgres:\/\/kiln:\*\*\*@127\.0\.0\.1:\d+\/kiln.*\[store_unavailable\]/,
    );
    assert.ok(!r.stderr.includes('s3cret'), 'the password is not printed');
  });
});

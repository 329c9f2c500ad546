// Real peers: Debian's /usr/sbin/sshd (on a loopback port) and the ssh client.
// Proves that a node whose sshd presents a Kiln host certificate is trusted
// from a known_hosts file holding only the @cert-authority line (no prompt, no
// TOFU), that a revoked or wrongly-named certificate is refused, and that
// sshd accepts Kiln user certificates via TrustedUserCAKeys.
import { test, type TestContext } from 'node:test';
import assert from 'node:assert/strict';
import { execFile, execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { mkdirSync, existsSync } from 'node:fs';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { formatCertAuthorityLine, loadOrCreateSshCa, type SshCa } from './ssh-ca.js';
import { signHostCertificate, signUserCertificate } from './ssh-certificate.js';
import { encodeKrl } from './ssh-krl.js';

const keyTypes = {
  ed25519: { args: ['-t', 'ed25519'], cert: 'ssh-ed25519-cert-v01@openssh.com' },
  ecdsa: { args: ['-t', 'ecdsa', '-b', '256'], cert: 'ecdsa-sha2-nistp256-cert-v01@openssh.com' },
  // An ssh-rsa-cert-v01 certificate is negotiated under the rsa-sha2-* names (RFC 8332 §3).
  rsa: { args: ['-t', 'rsa', '-b', '3072'], cert: 'rsa-sha2-512-cert-v01@openssh.com' },
} as const;
type KeyType = keyof typeof keyTypes;

const canRun = existsSync('/usr/sbin/sshd') && process.getuid?.() === 0;

async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = createServer()
      .once('error', reject)
      .listen(0, '127.0.0.1', () => {
        const { port } = s.address() as { port: number };
        s.close(() => resolve(port));
      });
  });
}

function genKey(path: string, type: KeyType): void {
  execFileSync('ssh-keygen', ['-q', ...keyTypes[type].args, '-N', '', '-f', path], { timeout: 30_000 });
}

interface Sshd {
  port: number;
  log: () => string;
}

/** Starts sshd -D -e with the given host keys/certs; stopped by PID in the test's cleanup. */
async function startSshd(
  t: TestContext,
  dir: string,
  name: string,
  hostKeys: Array<{ key: string; cert: string }>,
  caPub: string,
  extra: string[] = [],
): Promise<Sshd> {
  // sshd refuses to start without its privilege-separation directory (root-owned, not writable by others).
  if (!existsSync('/run/sshd')) mkdirSync('/run/sshd', { mode: 0o755, recursive: true });
  const port = await freePort();
  const config = join(dir, `${name}.sshd_config`);
  await writeFile(
    config,
    [
      `Port ${port}`,
      'ListenAddress 127.0.0.1',
      'AddressFamily inet',
      ...hostKeys.flatMap((h) => [`HostKey ${h.key}`, `HostCertificate ${h.cert}`]),
      `PidFile ${join(dir, `${name}.pid`)}`,
      'AuthorizedKeysFile none',
      `TrustedUserCAKeys ${caPub}`,
      'PermitRootLogin prohibit-password',
      'PasswordAuthentication no',
      'KbdInteractiveAuthentication no',
      'UsePAM no',
      'StrictModes no',
      'LogLevel VERBOSE',
      ...extra,
      '',
    ].join('\n'),
  );
  const child: ChildProcess = spawn('/usr/sbin/sshd', ['-D', '-e', '-f', config], {
    stdio: ['ignore', 'ignore', 'pipe'],
  });
  let log = '';
  child.stderr!.on('data', (d) => {
    log += d.toString();
  });
  t.after(() => stopProcess(child));
  await new Promise<void>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`sshd did not start within 10 s:\n${log}`)), 10_000);
    const check = () => {
      if (log.includes(`Server listening on 127.0.0.1 port ${port}`)) {
        clearTimeout(timer);
        resolve();
      }
    };
    child.stderr!.on('data', check);
    child.once('exit', (code) => {
      clearTimeout(timer);
      reject(new Error(`sshd exited with ${code}:\n${log}`));
    });
    check();
  });
  return { port, log: () => log };
}

async function stopProcess(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null || child.pid === undefined) return;
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  process.kill(child.pid, 'SIGTERM');
  const timer = setTimeout(() => {
    if (child.exitCode === null && child.pid) process.kill(child.pid, 'SIGKILL');
  }, 5_000);
  await exited;
  clearTimeout(timer);
}

interface SshResult {
  code: number;
  stderr: string;
}

/** Runs `ssh … root@127.0.0.1 true` non-interactively, trusting only `knownHosts`. */
function ssh(
  port: number,
  knownHosts: string,
  userKey: string,
  hostKeyAlgorithm: string,
  extra: string[] = [],
): Promise<SshResult> {
  const args = [
    '-F',
    '/dev/null',
    '-p',
    String(port),
    '-o',
    'StrictHostKeyChecking=yes',
    '-o',
    `UserKnownHostsFile=${knownHosts}`,
    '-o',
    'GlobalKnownHostsFile=/dev/null',
    '-o',
    'BatchMode=yes',
    '-o',
    'IdentitiesOnly=yes',
    '-o',
    'IdentityAgent=none',
    '-i',
    userKey,
    '-o',
    `CertificateFile=${userKey}-cert.pub`,
    '-o',
    `HostKeyAlgorithms=${hostKeyAlgorithm}`,
    '-o',
    'ConnectTimeout=10',
    ...extra,
    'root@127.0.0.1',
    'true',
  ];
  return new Promise((resolve) => {
    execFile('ssh', args, { timeout: 30_000, encoding: 'utf8' }, (err, _stdout, stderr) => {
      resolve({ code: err ? (typeof err.code === 'number' ? err.code : -1) : 0, stderr });
    });
  });
}

interface Fixture {
  dir: string;
  ca: SshCa;
  caPub: string;
  knownHosts: string;
  userKey: string;
  serials: Record<KeyType, number>;
}

async function fixture(t: TestContext): Promise<Fixture> {
  const dir = await mkdtemp(join(tmpdir(), 'kiln-sshd-'));
  t.after(() => rm(dir, { recursive: true, force: true }));
  const ca = await loadOrCreateSshCa(join(dir, 'ca'));
  const caPub = join(dir, 'ca', 'ssh_ca_ed25519.pub');
  const knownHosts = join(dir, 'known_hosts');
  await writeFile(knownHosts, `${formatCertAuthorityLine(ca.publicKey)}\n`);
  const userKey = join(dir, 'user');
  genKey(userKey, 'ed25519');
  await writeFile(
    `${userKey}-cert.pub`,
    signUserCertificate({
      ca,
      publicKeyLine: await readFile(`${userKey}.pub`, 'utf8'),
      principals: ['root'],
      serial: 9000,
      keyId: 'user:test',
      validAfter: new Date(Date.now() - 60_000),
      validBefore: new Date(Date.now() + 3600_000),
    }),
  );
  return { dir, ca, caPub, knownHosts, userKey, serials: { ed25519: 101, ecdsa: 102, rsa: 103 } };
}

async function hostKey(
  f: Fixture,
  type: KeyType,
  principals: string[],
  name = type,
): Promise<{ key: string; cert: string }> {
  const key = join(f.dir, `ssh_host_${name}_key`);
  genKey(key, type);
  const cert = `${key}-cert.pub`;
  await writeFile(
    cert,
    `${signHostCertificate({
      ca: f.ca,
      publicKeyLine: await readFile(`${key}.pub`, 'utf8'),
      principals,
      serial: f.serials[type],
      keyId: `host:test:${name}`,
      validAfter: new Date(Date.now() - 60_000),
      validBefore: new Date(Date.now() + 3600_000),
    })}\n`,
  );
  return { key, cert };
}

test(
  'ssh trusts Kiln host certificates of all three key types via @cert-authority only; KRL revokes',
  { skip: !canRun && 'needs root and /usr/sbin/sshd', timeout: 120_000 },
  async (t) => {
    const f = await fixture(t);
    const keys = [
      await hostKey(f, 'ed25519', ['127.0.0.1', 'node1.kiln.test']),
      await hostKey(f, 'ecdsa', ['127.0.0.1']),
      await hostKey(f, 'rsa', ['127.0.0.1']),
    ];
    const sshd = await startSshd(t, f.dir, 'main', keys, f.caPub);
    const before = await readFile(f.knownHosts, 'utf8');

    for (const type of Object.keys(keyTypes) as KeyType[]) {
      const r = await ssh(sshd.port, f.knownHosts, f.userKey, keyTypes[type].cert);
      assert.equal(r.code, 0, `${type}: ssh failed:\n${r.stderr}\n--- sshd ---\n${sshd.log()}`);
    }
    assert.match(
      sshd.log(),
      /Accepted publickey for root from 127\.0\.0\.1 .* ED25519-CERT SHA256:\S+ ID user:test \(serial 9000\) CA ED25519/,
    );
    assert.equal(
      await readFile(f.knownHosts, 'utf8'),
      before,
      'known_hosts is unchanged: nothing was learned on first use',
    );

    // The hostname principal is checked against HostKeyAlias when one is given.
    const alias = await ssh(sshd.port, f.knownHosts, f.userKey, keyTypes.ed25519.cert, [
      '-o',
      'HostKeyAlias=node1.kiln.test',
    ]);
    assert.equal(alias.code, 0, alias.stderr);

    // Client-side KRL with the ed25519 host certificate's serial: that host is refused, the others still pass.
    const krl = join(f.dir, 'revoked_host_keys');
    await writeFile(
      krl,
      encodeKrl({ ca: f.ca.publicKey, serials: [f.serials.ed25519], version: 1, generatedAt: new Date() }),
    );
    const revoked = await ssh(sshd.port, f.knownHosts, f.userKey, keyTypes.ed25519.cert, [
      '-o',
      `RevokedHostKeys=${krl}`,
    ]);
    assert.notEqual(revoked.code, 0);
    assert.match(revoked.stderr, /revoked/i);
    const other = await ssh(sshd.port, f.knownHosts, f.userKey, keyTypes.ecdsa.cert, ['-o', `RevokedHostKeys=${krl}`]);
    assert.equal(other.code, 0, other.stderr);
  },
);

test(
  'ssh refuses a host certificate whose principals do not name the host',
  { skip: !canRun && 'needs root and /usr/sbin/sshd', timeout: 60_000 },
  async (t) => {
    const f = await fixture(t);
    const sshd = await startSshd(
      t,
      f.dir,
      'wrong',
      [await hostKey(f, 'ed25519', ['other.kiln.test', '10.9.9.9'])],
      f.caPub,
    );
    const r = await ssh(sshd.port, f.knownHosts, f.userKey, keyTypes.ed25519.cert);
    assert.notEqual(r.code, 0);
    assert.match(r.stderr, /not a listed principal/);
    assert.match(r.stderr, /Host key verification failed/);
    assert.doesNotMatch(sshd.log(), /Accepted publickey/);
  },
);

test(
  'sshd refuses a user certificate for another principal and one revoked by its RevokedKeys KRL',
  { skip: !canRun && 'needs root and /usr/sbin/sshd', timeout: 60_000 },
  async (t) => {
    const f = await fixture(t);
    const keys = [await hostKey(f, 'ed25519', ['127.0.0.1'])];
    const alice = join(f.dir, 'alice');
    genKey(alice, 'ed25519');
    await writeFile(
      `${alice}-cert.pub`,
      signUserCertificate({
        ca: f.ca,
        publicKeyLine: await readFile(`${alice}.pub`, 'utf8'),
        principals: ['alice'],
        serial: 9001,
        keyId: 'user:alice',
        validAfter: new Date(Date.now() - 60_000),
        validBefore: 'forever',
      }),
    );
    const sshd = await startSshd(t, f.dir, 'users', keys, f.caPub);
    const r = await ssh(sshd.port, f.knownHosts, alice, keyTypes.ed25519.cert);
    assert.notEqual(r.code, 0);
    assert.match(r.stderr, /Permission denied/);

    // The root certificate works here, and is refused by an sshd whose RevokedKeys KRL lists its serial.
    const ok = await ssh(sshd.port, f.knownHosts, f.userKey, keyTypes.ed25519.cert);
    assert.equal(ok.code, 0, ok.stderr);
    const krl = join(f.dir, 'revoked_keys');
    await writeFile(krl, encodeKrl({ ca: f.ca.publicKey, serials: [9000], version: 1, generatedAt: new Date() }));
    const revoking = await startSshd(t, f.dir, 'revoking', keys, f.caPub, [`RevokedKeys ${krl}`]);
    const refused = await ssh(revoking.port, f.knownHosts, f.userKey, keyTypes.ed25519.cert);
    assert.notEqual(refused.code, 0);
    assert.match(refused.stderr, /Permission denied/);
    assert.match(revoking.log(), /revoked/i);
  },
);

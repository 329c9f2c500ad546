// Test support: a real OpenSSH server (Debian's /usr/sbin/sshd) inside a test
// namespace, and a non-interactive ssh client that trusts only a given
// known_hosts file. Processes are stopped by PID in `stop()`.
import { execFile, spawn, type ChildProcess } from 'node:child_process';
import { existsSync, mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { TestNetns } from './netns.js';

export interface Sshd {
  log(): string;
  stop(): Promise<void>;
}

/** Starts `sshd -D -e` in `ns` on `address:22` with one host key and its certificate; resolves once it listens (10 s bound). */
export async function startSshdInNetns(
  ns: TestNetns,
  dir: string,
  address: string,
  hostKey: string,
  hostCert: string,
  userCaPub: string,
): Promise<Sshd> {
  // sshd refuses to start without its privilege-separation directory.
  if (!existsSync('/run/sshd')) mkdirSync('/run/sshd', { mode: 0o755, recursive: true });
  const config = join(dir, 'sshd_config');
  writeFileSync(
    config,
    [
      'Port 22',
      `ListenAddress ${address}`,
      `HostKey ${hostKey}`,
      `HostCertificate ${hostCert}`,
      `PidFile ${join(dir, 'sshd.pid')}`,
      'AuthorizedKeysFile none',
      `TrustedUserCAKeys ${userCaPub}`,
      'PermitRootLogin prohibit-password',
      'PasswordAuthentication no',
      'KbdInteractiveAuthentication no',
      'UsePAM no',
      'StrictModes no',
      'LogLevel VERBOSE',
      '',
    ].join('\n'),
  );
  const child: ChildProcess = ns.spawn('/usr/sbin/sshd', ['-D', '-e', '-f', config], {
    stdio: ['ignore', 'ignore', 'pipe'],
  });
  let log = '';
  child.stderr!.on('data', (d) => {
    log += d.toString();
  });
  const exited = new Promise<void>((r) => child.once('exit', () => r()));
  const stop = async () => {
    if (child.exitCode === null && child.signalCode === null && child.pid) process.kill(child.pid, 'SIGTERM');
    const t = setTimeout(() => {
      if (child.exitCode === null && child.pid) process.kill(child.pid, 'SIGKILL');
    }, 5000);
    await exited;
    clearTimeout(t);
  };
  await new Promise<void>((resolve, reject) => {
    const timer = setTimeout(() => {
      void stop();
      reject(new Error(`sshd did not start within 10 s:\n${log}`));
    }, 10_000);
    const check = () => {
      if (log.includes(`Server listening on ${address} port 22`)) {
        clearTimeout(timer);
        resolve();
      }
    };
    child.stderr!.on('data', check);
    child.once('exit', (code) => {
      clearTimeout(timer);
      reject(new Error(`sshd exited with ${code}:\n${log}`));
    });
  });
  return { log: () => log, stop };
}

/** Runs `ssh root@address true` with StrictHostKeyChecking=yes and only `knownHosts`; returns the exit code and stderr. */
export function sshTrue(
  address: string,
  knownHosts: string,
  userKey: string,
  extra: string[] = [],
): Promise<{ code: number; stderr: string }> {
  const args = [
    '-F',
    '/dev/null',
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
    'HostKeyAlgorithms=ssh-ed25519-cert-v01@openssh.com',
    '-o',
    'ConnectTimeout=10',
    ...extra,
    `root@${address}`,
    'true',
  ];
  return new Promise((resolve) => {
    execFile('ssh', args, { timeout: 30_000, encoding: 'utf8' }, (err, _o, stderr) =>
      resolve({ code: err ? (typeof err.code === 'number' ? err.code : -1) : 0, stderr }),
    );
  });
}

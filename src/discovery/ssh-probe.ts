// Test support for the QEMU install tests: Debian's real `ssh` client logs in
// to an installed VM trusting nothing but one known_hosts line (Kiln's
// `@cert-authority`), with StrictHostKeyChecking=yes, so a connection proves
// that sshd presented a host certificate signed by that CA for the address.
import { execFile } from 'node:child_process';
import { execFileSync } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';

/** What one ssh run printed; `hostCertificate` is ssh's "Server host certificate" debug line, if any. */
export interface SshProbeResult {
  code: number | null;
  stdout: string;
  stderr: string;
  hostCertificate: string | null;
}

/** A root key pair for the VM's authorized_keys: `path` (private, stays in the test) and `publicLine`. */
export function makeRootKey(dir: string): { path: string; publicLine: string } {
  const path = join(dir, 'root_ed25519');
  execFileSync('ssh-keygen', ['-q', '-t', 'ed25519', '-N', '', '-C', 'kiln-test-root', '-f', path], {
    timeout: 30_000,
  });
  return { path, publicLine: execFileSync('ssh-keygen', ['-y', '-f', path], { encoding: 'utf8' }).trim() };
}

/**
 * Runs `ssh root@ip command` (inside network namespace `netns` when given)
 * with `knownHostsLine` as the only trusted host entry. Never throws for a
 * refused connection: the caller asserts on `code` and the output.
 */
export function sshProbe(opts: {
  dir: string;
  name: string;
  ip: string;
  key: string;
  knownHostsLine: string;
  command: string;
  netns?: string;
  timeoutMs?: number;
}): Promise<SshProbeResult> {
  const knownHosts = join(opts.dir, `${opts.name}.known_hosts`);
  writeFileSync(knownHosts, `${opts.knownHostsLine}\n`);
  const ssh = [
    'ssh',
    '-F',
    '/dev/null',
    '-v',
    '-i',
    opts.key,
    '-o',
    'IdentitiesOnly=yes',
    '-o',
    'BatchMode=yes',
    '-o',
    'StrictHostKeyChecking=yes',
    '-o',
    `UserKnownHostsFile=${knownHosts}`,
    '-o',
    'GlobalKnownHostsFile=/dev/null',
    '-o',
    'UpdateHostKeys=no',
    '-o',
    'ConnectTimeout=30',
    `root@${opts.ip}`,
    opts.command,
  ];
  const [cmd, args] = opts.netns
    ? (['ip', ['netns', 'exec', opts.netns, ...ssh]] as const)
    : ([ssh[0], ssh.slice(1)] as const);
  const once = () =>
    new Promise<SshProbeResult>((resolve) => {
      execFile(cmd, [...args], { encoding: 'utf8', timeout: opts.timeoutMs ?? 90_000 }, (err, stdout, stderr) => {
        const code = err
          ? typeof (err as { code?: unknown }).code === 'number'
            ? (err as { code: number }).code
            : null
          : 0;
        resolve({
          code,
          stdout,
          stderr,
          hostCertificate: /debug1: Server host certificate: (.*)/.exec(stderr)?.[1] ?? null,
        });
      });
    });
  // Only a refused connection (sshd not listening yet) is tried again: at most 10 times, 2 s apart.
  return (async () => {
    for (let i = 0; ; i++) {
      const r = await once();
      if (i >= 9 || !/Connection refused/.test(r.stderr)) return r;
      await new Promise((res) => setTimeout(res, 2000));
    }
  })();
}

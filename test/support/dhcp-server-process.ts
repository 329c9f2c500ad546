// Test support: Kiln's DHCP server as its own process (bench/dhcp-server-process.ts)
// inside a test namespace, started and stopped by PID.
import type { ChildProcess } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { DhcpConfig } from '../../src/boot/dhcp/dhcp-config.js';
import type { TestNetns } from './netns.js';
import { stopChild } from './process.js';

/**
 * Starts the server in `ns` with `cfg` (written to a file in `workDir`) and
 * leases in the SQLite file `db`; resolves on "ready", rejects with its stderr
 * when it exits first or after 30 s. The child is pushed onto `procs` so the
 * test's cleanup can kill it even when the test fails.
 */
export async function startDhcpServerProcess(
  ns: TestNetns,
  cfg: DhcpConfig,
  db: string,
  workDir: string,
  procs: ChildProcess[],
  server?: { reopenDelaysMs?: number[]; deviceCheckMs?: number },
): Promise<ChildProcess> {
  const file = join(workDir, `cfg-${Date.now()}.json`);
  writeFileSync(file, JSON.stringify({ dhcp: cfg, ...(server ? { server } : {}) }));
  const p = ns.spawn(process.execPath, ['--import', 'tsx', 'bench/dhcp-server-process.ts', file, db], {
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  procs.push(p);
  let err = '';
  p.stderr!.on('data', (d) => {
    err += d;
  });
  await new Promise<void>((resolve, reject) => {
    const t = setTimeout(() => reject(new Error(`server did not start in 30 s: ${err}`)), 30_000);
    p.stdout!.on('data', (d) => {
      if (String(d).includes('ready')) {
        clearTimeout(t);
        resolve();
      }
    });
    p.on('exit', (c) => {
      clearTimeout(t);
      reject(new Error(`server exited ${c}: ${err}`));
    });
  });
  return p;
}

/** Stops it by PID: SIGTERM, then SIGKILL after 10 s. (`ip netns exec` execs the command, so the PID is the server itself.) */
export const stopDhcpServerProcess = (p: ChildProcess): Promise<void> => stopChild(p, 10_000);

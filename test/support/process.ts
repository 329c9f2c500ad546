// Test support: stopping child processes the test started, by PID only.
// (`ip netns exec` execs its command, so a spawned child's PID is the
// program itself: QEMU, node, sshd.)
import type { ChildProcess } from 'node:child_process';

/** SIGKILL `p` if it still runs. */
export function killChild(p: ChildProcess | undefined): void {
  if (p && p.exitCode === null && p.signalCode === null && p.pid) {
    try {
      process.kill(p.pid, 'SIGKILL');
    } catch {
      /* gone */
    }
  }
}

/** SIGTERM `p`, wait up to `ms` for it to exit, then SIGKILL. */
export async function stopChild(p: ChildProcess | undefined, ms = 10_000): Promise<void> {
  if (!p || p.exitCode !== null || p.signalCode !== null || !p.pid) return;
  const exited = new Promise<void>((r) => p.once('exit', () => r()));
  process.kill(p.pid, 'SIGTERM');
  await Promise.race([exited, new Promise((r) => setTimeout(r, ms))]);
  killChild(p);
}

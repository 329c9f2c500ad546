// Test support: what every process of a run had on its command line. strace follows the process tree and records
// each execve with its whole argv: the words /proc/PID/cmdline and ps show every local user. A PATH shim would
// miss busybox: its sh runs its own applets (wget, nc) without a PATH lookup, by re-executing itself.
import assert from 'node:assert/strict';
import { existsSync, readFileSync } from 'node:fs';

/** strace, when installed (scripts/install-test-peers.sh installs it); null otherwise. */
export const STRACE = ['/usr/bin/strace', '/bin/strace'].find((p) => existsSync(p)) ?? null;

/** `argv` run under strace: every execve of it and its children, with argv in full, goes to `log`. */
export function traced(log: string, argv: readonly string[]): string[] {
  if (!STRACE) throw new Error('traced() needs strace');
  return [STRACE, '-f', '-qq', '-s', '100000', '-e', 'trace=execve', '-e', 'signal=none', '-o', log, ...argv];
}

/** The execve lines of a strace log, one per program run (its path and argv as strace quotes them). */
export function execLines(log: string): string[] {
  return readFileSync(log, 'utf8')
    .split('\n')
    .filter((l) => l.includes('execve('));
}

/**
 * Asserts that no program of the traced run had any of `secrets` in its argv, and that the run did execute each
 * program in `programs` (argv[0] as run, e.g. `curl` or `nc`): the trace saw the calls that would have leaked.
 */
export function assertNeverOnArgv(log: string, secrets: readonly string[], programs: readonly string[]): void {
  const lines = execLines(log);
  for (const p of programs)
    assert.ok(
      lines.some((l) => l.includes(`["${p}", `)),
      `the trace shows ${p} run (${lines.length} programs traced)`,
    );
  for (const s of secrets) {
    assert.ok(s.length >= 16, 'a secret worth looking for');
    const leaked = lines.filter((l) => l.includes(s));
    assert.deepEqual(leaked, [], 'a secret on a command line');
  }
}

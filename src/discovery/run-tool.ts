// Runs one external build tool (apt-get, dpkg-deb, depmod, grub-mkimage, ldd)
// and turns a failure into a KilnError that names the tool and its stderr.
import { AsyncLocalStorage } from 'node:async_hooks';
import { spawn } from 'node:child_process';
import { KilnError } from '../error/kiln-error.js';

/**
 * The abort signal of the build that is running (set by `withToolSignal`):
 * every `runTool` under it kills its child's process group when it aborts
 * (controller shutdown): the apt-get / dpkg-deb / depmod that runs and every
 * process it started (dpkg-deb's tar), instead of leaving them behind.
 */
const toolSignal = new AsyncLocalStorage<AbortSignal>();

/** Runs `fn` with `signal` applied to every `runTool` it starts (directly or through any await chain). */
export function withToolSignal<T>(signal: AbortSignal | undefined, fn: () => Promise<T>): Promise<T> {
  return signal ? toolSignal.run(signal, fn) : fn();
}

/** Options for `runTool`; `timeoutMs` defaults to 5 minutes. */
export interface RunToolOptions {
  cwd?: string;
  timeoutMs?: number;
  input?: string;
}

/**
 * Runs `cmd args` without a shell and resolves with its stdout. Rejects with
 * KilnError `internal` (details: tool, args, stderr tail) on a non-zero exit,
 * a missing binary or the timeout.
 */
export function runTool(cmd: string, args: readonly string[], opts: RunToolOptions = {}): Promise<string> {
  return new Promise((resolve, reject) => {
    const signal = toolSignal.getStore();
    if (signal?.aborted) {
      reject(
        new KilnError('internal', `${cmd} not started: the build was cancelled`, {
          details: { tool: cmd, cancelled: true },
        }),
      );
      return;
    }
    // detached: the tool leads its own process group. dpkg-deb -x runs tar as its child, apt-get its
    // download methods; killing only the tool left tar writing into a directory being removed (seen in CI).
    // (execFile does not pass `detached` on to spawn, hence spawn.)
    const child = spawn(cmd, args, {
      cwd: opts.cwd,
      detached: true,
      stdio: [opts.input === undefined ? 'ignore' : 'pipe', 'pipe', 'pipe'],
    });
    let stdout = '';
    let stderr = '';
    let failure: Error | null = null;
    const limit = 64 * 1024 * 1024;
    child.stdout!.setEncoding('utf8').on('data', (d: string) => {
      stdout += d;
      if (stdout.length > limit) {
        failure ??= new Error('stdout larger than 64 MiB');
        killGroup(child.pid);
      }
    });
    child.stderr!.setEncoding('utf8').on('data', (d: string) => {
      stderr = (stderr + d).slice(-64 * 1024);
    });
    const timer = setTimeout(() => {
      failure ??= new Error(`timed out after ${opts.timeoutMs ?? 300_000} ms`);
      killGroup(child.pid);
    }, opts.timeoutMs ?? 300_000);
    const onAbort = (): void => {
      killGroup(child.pid);
    };
    signal?.addEventListener('abort', onAbort, { once: true });
    const done = (err: Error | null, code: number | null, sig: NodeJS.Signals | null): void => {
      clearTimeout(timer);
      signal?.removeEventListener('abort', onAbort);
      if (err === null && failure === null && code === 0) {
        resolve(stdout);
        return;
      }
      const cause = err ?? failure ?? new Error(sig ? `killed by ${sig}` : `exit code ${code}`);
      if (signal?.aborted) {
        void groupGone(child.pid).then(() =>
          reject(
            new KilnError('internal', `${cmd} stopped: the build was cancelled`, {
              details: { tool: cmd, cancelled: true },
              cause,
            }),
          ),
        );
        return;
      }
      const tail = stderr.trim().split('\n').slice(-5).join('\n');
      reject(
        new KilnError('internal', `${cmd} failed: ${tail || cause.message}`, {
          details: { tool: cmd, args: [...args], stderr: tail },
          cause,
        }),
      );
    };
    child.once('error', (err) => done(err, null, null));
    child.once('close', (code, sig) => done(null, code, sig));
    if (opts.input !== undefined) child.stdin!.end(opts.input);
  });
}

/** SIGKILL to the tool's whole process group (the tool and what it started); a group already gone is fine. */
function killGroup(pid: number | undefined): void {
  if (pid === undefined) return;
  try {
    process.kill(-pid, 'SIGKILL');
  } catch {
    /* gone */
  }
}

/** Resolves once no process of the group is left (bounded: 5 s), so the caller may remove what they were writing. */
async function groupGone(pid: number | undefined): Promise<void> {
  if (pid === undefined) return;
  killGroup(pid);
  for (let i = 0; i < 100; i++) {
    try {
      process.kill(-pid, 0);
    } catch {
      return;
    }
    await new Promise((r) => setTimeout(r, 50));
  }
}

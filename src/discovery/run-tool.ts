// Runs one external build tool (apt-get, dpkg-deb, depmod, grub-mkimage, ldd)
// and turns a failure into a KilnError that names the tool and its stderr.
import { AsyncLocalStorage } from 'node:async_hooks';
import { execFile } from 'node:child_process';
import { KilnError } from '../error/kiln-error.js';

/**
 * The abort signal of the build that is running (set by `withToolSignal`):
 * every `runTool` under it passes it to its child, so aborting the build
 * (controller shutdown) kills the apt-get / dpkg-deb / depmod that runs, by
 * its own PID, instead of leaving it behind.
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
    if (signal?.aborted) { reject(new KilnError('internal', `${cmd} not started: the build was cancelled`, { details: { tool: cmd, cancelled: true } })); return; }
    const child = execFile(cmd, args, { cwd: opts.cwd, timeout: opts.timeoutMs ?? 300_000, maxBuffer: 64 * 1024 * 1024, encoding: 'utf8', signal },
      (err, stdout, stderr) => {
        if (err === null) { resolve(stdout); return; }
        if (signal?.aborted) { reject(new KilnError('internal', `${cmd} stopped: the build was cancelled`, { details: { tool: cmd, cancelled: true }, cause: err })); return; }
        const tail = String(stderr).trim().split('\n').slice(-5).join('\n');
        reject(new KilnError('internal', `${cmd} failed: ${tail || err.message}`, { details: { tool: cmd, args: [...args], stderr: tail }, cause: err }));
      });
    if (opts.input !== undefined) child.stdin?.end(opts.input);
  });
}

// Runs one external build tool (apt-get, dpkg-deb, depmod, grub-mkimage, ldd)
// and turns a failure into a KilnError that names the tool and its stderr.
import { execFile } from 'node:child_process';
import { KilnError } from '../error/kiln-error.js';

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
    const child = execFile(cmd, args, { cwd: opts.cwd, timeout: opts.timeoutMs ?? 300_000, maxBuffer: 64 * 1024 * 1024, encoding: 'utf8' },
      (err, stdout, stderr) => {
        if (err === null) { resolve(stdout); return; }
        const tail = String(stderr).trim().split('\n').slice(-5).join('\n');
        reject(new KilnError('internal', `${cmd} failed: ${tail || err.message}`, { details: { tool: cmd, args: [...args], stderr: tail }, cause: err }));
      });
    if (opts.input !== undefined) child.stdin?.end(opts.input);
  });
}

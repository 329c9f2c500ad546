// Runs external tools (apt-get, dpkg-deb, depmod, grub-mkimage, ldd for the
// discovery image; ipmitool and virsh for power): an argument array and never
// a shell, a hard timeout, capped output, and the tool's whole process group
// killed on timeout or abort.
import { AsyncLocalStorage } from 'node:async_hooks';
import { spawn } from 'node:child_process';
import { KilnError } from '../error/kiln-error.js';

/**
 * The abort signal of the build that is running (set by `withToolSignal`):
 * every tool started under it has its process group killed when it aborts
 * (controller shutdown): the apt-get / dpkg-deb / depmod that runs and every
 * process it started (dpkg-deb's tar), instead of leaving them behind.
 */
const toolSignal = new AsyncLocalStorage<AbortSignal>();

/** Runs `fn` with `signal` applied to every tool it starts (directly or through any await chain). */
export function withToolSignal<T>(signal: AbortSignal | undefined, fn: () => Promise<T>): Promise<T> {
  return signal ? toolSignal.run(signal, fn) : fn();
}

/** Default hard limit of one run: 5 minutes. */
export const TOOL_TIMEOUT_MS = 300_000;
/** Stdout beyond this (characters) kills the tool: 64 MiB. */
const STDOUT_LIMIT = 64 * 1024 * 1024;
/** Only the last 64 KiB of stderr are kept. */
const STDERR_TAIL = 64 * 1024;

/** Options of one run. */
export interface ExecToolOptions {
  cwd?: string;
  /** Replaces the environment entirely (secrets travel here, never on argv). Default: inherited. */
  env?: Record<string, string>;
  /** Hard limit in ms (default 5 minutes): after it the tool's process group gets SIGKILL. */
  timeoutMs?: number;
  /** Aborting kills the tool's process group; so does the signal of `withToolSignal`. */
  signal?: AbortSignal;
  /** Written to the tool's stdin, then closed. Without it stdin is /dev/null. */
  stdin?: string;
  /** Called with the child's PID right after spawn (tests read /proc/<pid>/cmdline). */
  onSpawn?: (pid: number) => void;
}

/** How one run ended. `code` is null when the tool was killed by a signal (ours or another's). */
export interface ToolResult {
  code: number | null;
  stdout: string;
  /** The last 64 KiB of stderr. */
  stderr: string;
  /** Why we killed it (timer, abort, stdout over 64 MiB), or null when it ended by itself. */
  killed: 'timeout' | 'abort' | 'output' | null;
  /** We killed it by the timer or an abort (`killed` is 'timeout' or 'abort'): the caller reports a timeout. */
  timedOut: boolean;
  /** The signal that ended it, if one did. */
  signal: NodeJS.Signals | null;
}

/**
 * Runs `cmd args` without a shell and collects its output. Never rejects for
 * a non-zero exit or a kill; rejects only when the tool cannot be started
 * (ENOENT, EACCES). Already aborted: resolves `killed: 'abort'` without
 * starting it. After a kill it resolves once the tool's whole process group
 * is gone (bounded: 5 s), so the caller may remove what it was writing.
 */
export function execTool(cmd: string, args: readonly string[], o: ExecToolOptions = {}): Promise<ToolResult> {
  const signals = [o.signal, toolSignal.getStore()].filter((s): s is AbortSignal => s !== undefined);
  if (signals.some((s) => s.aborted))
    return Promise.resolve({ code: null, stdout: '', stderr: '', killed: 'abort', timedOut: true, signal: null });
  return new Promise((resolve, reject) => {
    // detached: the tool leads its own process group. dpkg-deb -x runs tar as its child, apt-get its
    // download methods; killing only the tool left tar writing into a directory being removed (seen in CI).
    // (execFile does not pass `detached` on to spawn, hence spawn.)
    const child = spawn(cmd, args, {
      cwd: o.cwd,
      env: o.env,
      detached: true,
      stdio: [o.stdin === undefined ? 'ignore' : 'pipe', 'pipe', 'pipe'],
    });
    let stdout = '';
    let stderr = '';
    let killed: ToolResult['killed'] = null;
    const kill = (why: NonNullable<ToolResult['killed']>): void => {
      killed ??= why;
      killGroup(child.pid);
    };
    const onAbort = (): void => kill('abort');
    const timer = setTimeout(() => kill('timeout'), o.timeoutMs ?? TOOL_TIMEOUT_MS);
    for (const s of signals) s.addEventListener('abort', onAbort, { once: true });
    const stop = (): void => {
      clearTimeout(timer);
      for (const s of signals) s.removeEventListener('abort', onAbort);
    };
    child.stdout!.setEncoding('utf8').on('data', (d: string) => {
      stdout += d;
      if (stdout.length > STDOUT_LIMIT) kill('output');
    });
    child.stderr!.setEncoding('utf8').on('data', (d: string) => {
      stderr = (stderr + d).slice(-STDERR_TAIL);
    });
    if (o.stdin !== undefined && child.stdin) {
      child.stdin.on('error', () => {
        /* the tool may exit before reading stdin; its exit code tells */
      });
      child.stdin.end(o.stdin);
    }
    child.once('spawn', () => {
      if (child.pid) o.onSpawn?.(child.pid);
    });
    child.once('error', (err) => {
      stop();
      reject(err);
    });
    child.once('close', (code, signal) => {
      stop();
      const result = { code, stdout, stderr, killed, timedOut: killed === 'timeout' || killed === 'abort', signal };
      if (killed) void groupGone(child.pid).then(() => resolve(result));
      else resolve(result);
    });
  });
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
 * a missing binary or the timeout; details `cancelled: true` when the signal
 * of `withToolSignal` aborted it (or had aborted before it started).
 */
export async function runTool(cmd: string, args: readonly string[], opts: RunToolOptions = {}): Promise<string> {
  if (toolSignal.getStore()?.aborted)
    throw new KilnError('internal', `${cmd} not started: the build was cancelled`, {
      details: { tool: cmd, cancelled: true },
    });
  const timeoutMs = opts.timeoutMs ?? TOOL_TIMEOUT_MS;
  let r: ToolResult;
  try {
    r = await execTool(cmd, args, { cwd: opts.cwd, timeoutMs, stdin: opts.input });
  } catch (err) {
    throw failed(cmd, args, '', err as Error);
  }
  if (r.killed === null && r.code === 0) return r.stdout;
  const cause = new Error(
    r.killed === 'timeout'
      ? `timed out after ${timeoutMs} ms`
      : r.killed === 'output'
        ? 'stdout larger than 64 MiB'
        : r.signal
          ? `killed by ${r.signal}`
          : `exit code ${r.code}`,
  );
  if (r.killed === 'abort')
    throw new KilnError('internal', `${cmd} stopped: the build was cancelled`, {
      details: { tool: cmd, cancelled: true },
      cause,
    });
  throw failed(cmd, args, r.stderr, cause);
}

/** The KilnError of a failed build tool: its name and the last lines of its stderr (or the cause). */
function failed(cmd: string, args: readonly string[], stderr: string, cause: Error): KilnError {
  const tail = stderr.trim().split('\n').slice(-5).join('\n');
  return new KilnError('internal', `${cmd} failed: ${tail || cause.message}`, {
    details: { tool: cmd, args: [...args], stderr: tail },
    cause,
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

/** Resolves once no process of the group is left (bounded: 5 s). */
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

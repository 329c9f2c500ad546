import { spawn } from 'node:child_process';

/** How one run of an external tool ended. `timedOut` means we killed it (timer or abort signal). */
export interface ToolResult {
  code: number | null;
  stdout: string;
  stderr: string;
  timedOut: boolean;
}

/** Options for `runTool`. `env` replaces the environment entirely (secrets travel here, never on argv). */
export interface RunToolOptions {
  env: Record<string, string>;
  /** Hard limit in ms: after it the child gets SIGKILL and `timedOut` is set. */
  timeoutMs: number;
  signal?: AbortSignal;
  /** Called with the child's PID right after spawn (tests read /proc/<pid>/cmdline). */
  onSpawn?: (pid: number) => void;
  stdin?: string;
}

/**
 * Runs a tool with arguments (no shell) and collects its output. Never
 * rejects for a non-zero exit; rejects only when the tool cannot be started.
 */
export function runTool(cmd: string, args: string[], o: RunToolOptions): Promise<ToolResult> {
  return new Promise((resolve, reject) => {
    const child = spawn(cmd, args, { env: o.env, stdio: ['pipe', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    let timedOut = false;
    const kill = (): void => {
      timedOut = true;
      child.kill('SIGKILL');
    };
    const timer = setTimeout(kill, o.timeoutMs);
    o.signal?.addEventListener('abort', kill, { once: true });
    if (o.signal?.aborted) kill();
    child.stdout.setEncoding('utf8').on('data', (d: string) => {
      stdout += d;
    });
    child.stderr.setEncoding('utf8').on('data', (d: string) => {
      stderr += d;
    });
    child.stdin.end(o.stdin ?? '');
    child.stdin.on('error', () => {
      /* the tool may exit before reading stdin; its exit code tells */
    });
    child.on('spawn', () => {
      if (child.pid) o.onSpawn?.(child.pid);
    });
    child.on('error', (err) => {
      clearTimeout(timer);
      reject(err);
    });
    child.on('close', (code) => {
      clearTimeout(timer);
      o.signal?.removeEventListener('abort', kill);
      resolve({ code, stdout, stderr, timedOut });
    });
  });
}

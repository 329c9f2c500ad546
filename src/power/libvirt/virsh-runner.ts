import { spawn, type ChildProcessWithoutNullStreams } from 'node:child_process';
import { KilnError } from '../../error/kiln-error.js';
import { execTool } from '../../process/run-tool.js';

/** The result of one virsh command: `ok` false when virsh printed an error. */
export interface VirshResult {
  ok: boolean;
  stdout: string;
  stderr: string;
}

/** Runs virsh commands against one libvirt URI. */
export interface VirshRunner {
  run(args: string[], signal?: AbortSignal): Promise<VirshResult>;
  close(): Promise<void>;
}

/**
 * One `virsh -c <uri> …` process per command: the production runner (a real
 * hypervisor keeps state itself). Rejects with `bmc_timeout` after `timeoutMs`.
 */
export function createVirshExec(uri: string, o: { timeoutMs: number; virshPath?: string }): VirshRunner {
  return {
    async run(args, signal) {
      const r = await execTool(o.virshPath ?? 'virsh', ['-q', '-c', uri, ...args], {
        env: { PATH: process.env.PATH ?? '/usr/bin:/bin', LANG: 'C' },
        timeoutMs: o.timeoutMs,
        signal,
      });
      if (r.timedOut)
        throw new KilnError('bmc_timeout', `virsh ${args[0]} on ${uri} did not finish within ${o.timeoutMs} ms`);
      return { ok: r.code === 0, stdout: r.stdout, stderr: r.stderr };
    },
    close: async () => {},
  };
}

// virsh's command-line parser accepts single-quoted words; a quote inside is written '\''.
const quote = (a: string) => `'${a.replace(/'/g, `'\\''`)}'`;

/**
 * One long-lived interactive `virsh -q -c <uri>` fed over stdin. Needed for
 * `test:///` URIs, whose state lives only inside one virsh process; also
 * saves a connection per call on a real hypervisor. After each command we
 * send `echo --err` and `echo` with a marker (written `KILN''END<n>` so the
 * echoed command line never contains the marker itself) and read both
 * streams up to it. A timeout kills the process; the next call starts a new one.
 */
export function createVirshSession(uri: string, o: { timeoutMs: number; virshPath?: string }): VirshRunner {
  let child: ChildProcessWithoutNullStreams | undefined;
  let out = '';
  let err = '';
  let n = 0;
  let chain: Promise<unknown> = Promise.resolve();
  let wake: (() => void) | undefined;

  const start = (): ChildProcessWithoutNullStreams => {
    const c = spawn(o.virshPath ?? 'virsh', ['-q', '-c', uri], {
      env: { PATH: process.env.PATH ?? '/usr/bin:/bin', LANG: 'C' },
    });
    c.stdout.setEncoding('utf8').on('data', (d: string) => {
      out += d;
      wake?.();
    });
    c.stderr.setEncoding('utf8').on('data', (d: string) => {
      err += d;
      wake?.();
    });
    c.on('exit', () => {
      if (child === c) child = undefined;
      wake?.();
    });
    // virsh missing or not executable: no 'exit' follows; without this listener the error would crash the controller.
    c.on('error', (e) => {
      err += `error: cannot start virsh: ${e.message}\n`;
      if (child === c) child = undefined;
      wake?.();
    });
    c.stdin.on('error', () => {
      /* exit is reported through 'exit' */
    });
    out = '';
    err = '';
    return c;
  };
  const stop = (c: ChildProcessWithoutNullStreams | undefined): void => {
    if (c && c.exitCode === null) c.kill('SIGKILL');
  };

  async function exec(args: string[], signal?: AbortSignal): Promise<VirshResult> {
    // One command per line: a newline inside an argument would start a second, operator-chosen virsh command.
    // eslint-disable-next-line no-control-regex
    if (args.some((a) => /[\u0000-\u001f\u007f]/.test(a)))
      throw new KilnError('validation_failed', 'a virsh argument may not contain control characters');
    const c = child ?? (child = start());
    const marker = `KILNEND${++n}`;
    c.stdin.write(`${args.map(quote).join(' ')}\necho --err KILN''END${n}\necho KILN''END${n}\n`);
    const deadline = Date.now() + o.timeoutMs;
    const errMark = `error: ${marker}\n`;
    while (!(out.includes(marker) && err.includes(errMark))) {
      // The session died (for example it could not connect): its stderr is the caller's to classify, never to pass on.
      if (child !== c) return { ok: false, stdout: '', stderr: err || 'error: virsh session exited' };
      const left = deadline - Date.now();
      if (left <= 0 || signal?.aborted) {
        stop(c);
        child = undefined;
        throw new KilnError('bmc_timeout', `virsh ${args[0]} on ${uri} did not finish within ${o.timeoutMs} ms`);
      }
      await new Promise<void>((r) => {
        wake = r;
        setTimeout(r, Math.min(left, 50));
      });
    }
    const i = out.indexOf(marker);
    const stdout = out
      .slice(0, i)
      .replace(/^virsh # .*\n?/gm, '')
      .replace(/virsh # $/, '');
    out = out.slice(i + marker.length);
    const j = err.indexOf(errMark);
    const stderr = err.slice(0, j);
    err = err.slice(j + errMark.length);
    return { ok: !/^error:/m.test(stderr), stdout, stderr };
  }

  return {
    run(args, signal) {
      const p = chain.then(() => exec(args, signal));
      chain = p.catch(() => undefined);
      return p;
    },
    async close() {
      const c = child;
      child = undefined;
      if (c && c.exitCode === null) {
        const gone = new Promise((r) => c.once('exit', r));
        c.stdin.end('quit\n');
        await Promise.race([gone, new Promise((r) => setTimeout(r, 2000))]);
        stop(c);
      }
    },
  };
}

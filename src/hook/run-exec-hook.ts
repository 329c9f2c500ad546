import { execTool } from '../process/run-tool.js';
import type { Logger } from '../log/logger.js';
import type { AttemptResult } from './hook.js';

/** One run of an executable hook from the config file. */
export interface ExecAttempt {
  /** argv: an absolute program path and fixed arguments (checked at config load); no shell. */
  command: readonly string[];
  deliveryId: string;
  kind: string;
  body: string;
  timeoutMs: number;
  signal?: AbortSignal;
}

/**
 * Runs the program with the delivery body (the same JSON an HTTP hook gets)
 * on stdin, and `KILN_DELIVERY_ID` / `KILN_EVENT_KIND` in an environment that
 * has nothing else of the controller's but PATH. Exit 0 is delivered;
 * another exit, a signal, or passing `timeoutMs` (its process group is
 * killed) fails. Its output stays in the debug log.
 */
export async function runExecHook(a: ExecAttempt, log: Logger): Promise<AttemptResult> {
  let r;
  try {
    r = await execTool(a.command[0], a.command.slice(1), {
      stdin: a.body,
      timeoutMs: a.timeoutMs,
      signal: a.signal,
      env: {
        PATH: '/usr/local/bin:/usr/bin:/bin',
        KILN_DELIVERY_ID: a.deliveryId,
        KILN_EVENT_KIND: a.kind,
      },
    });
  } catch (err) {
    const e = err as Error & { code?: string };
    log.debug({ deliveryId: a.deliveryId, err: e.message }, 'exec hook could not start');
    return { ok: false, status: null, error: `could not start: ${e.code ?? 'error'}` };
  }
  log.debug(
    { deliveryId: a.deliveryId, code: r.code, signal: r.signal, stderr: r.stderr.slice(-500) },
    'exec hook ended',
  );
  if (r.killed === 'timeout') return { ok: false, status: null, error: `killed after ${a.timeoutMs} ms` };
  if (r.killed) return { ok: false, status: null, error: `stopped (${r.killed})` };
  if (r.code === 0) return { ok: true, status: 0 };
  return r.code === null
    ? { ok: false, status: null, error: `ended by ${r.signal ?? 'a signal'}` }
    : { ok: false, status: r.code, error: `exited ${r.code}` };
}

// Every send and receive error of a boot server's sockets is logged with its
// errno, rate-limited so a storm of ICMP errors cannot flood the log, and
// counted (the count goes to /metrics whatever the log shows).
import type { Logger } from '../../log/logger.js';

/** Reports one socket error: `where` names the socket (interface, port) for the log. */
export type SocketErrorReport = (
  err: NodeJS.ErrnoException,
  op: 'send' | 'receive',
  where: Record<string, unknown>,
) => void;

/**
 * A reporter for one server (`dhcp`, `tftp`): the first error of each
 * (operation, errno) in a window of `windowMs` is logged at warn with its
 * errno; the rest of the window are counted and summed into the next line
 * (`suppressed`). `count` sees every error, for the metrics counter.
 */
export function createSocketErrorLog(opts: {
  server: string;
  log: Logger;
  count?: (server: string, op: 'send' | 'receive', errno: string) => void;
  windowMs?: number;
  now?: () => number;
}): SocketErrorReport {
  const windowMs = opts.windowMs ?? 10_000;
  const now = opts.now ?? Date.now;
  const last = new Map<string, { at: number; suppressed: number }>();
  return (err, op, where) => {
    const errno = err.code ?? 'UNKNOWN';
    opts.count?.(opts.server, op, errno);
    const key = `${op}:${errno}`;
    const seen = last.get(key);
    const t = now();
    if (seen && t - seen.at < windowMs) {
      seen.suppressed++;
      return;
    }
    last.set(key, { at: t, suppressed: 0 });
    opts.log.warn(
      { ...where, op, errno, err: err.message, ...(seen?.suppressed ? { suppressed: seen.suppressed } : {}) },
      `${opts.server}: socket ${op} error ${errno}${seen?.suppressed ? ` (${seen.suppressed} more of these since the last line)` : ''}`,
    );
  };
}

import type { Command } from '@commander-js/extra-typings';
import { ApiError, type ApiClient } from '../api-client.js';
import { emit, type Output } from '../output.js';
import { formatLogLine, type LogLineJson } from './log-line.js';
import { sleepUnlessAborted } from '../../runtime/sleep.js';

/** Knobs for `kiln host logs --follow`, injected by tests: the poll interval and a signal that stops following. */
export interface LogFollowOptions {
  intervalMs?: number;
  signal?: AbortSignal;
}

type Line = LogLineJson & { id: number };

/**
 * Polls the host's lines after the last id printed (`after=`), printing each
 * new one: nothing is printed twice or skipped, whatever arrives between
 * polls. A refused token or a bad filter stops; other errors are said and
 * retried at the next poll.
 */
export async function followLogs(
  api: ApiClient,
  path: string,
  query: URLSearchParams,
  print: (l: Line) => void,
  o: Output,
  opts: LogFollowOptions = {},
): Promise<void> {
  let after: number | undefined;
  while (!opts.signal?.aborted) {
    const q = new URLSearchParams(query);
    if (after !== undefined) q.set('after', String(after));
    try {
      const res = await api.get<{ items: Line[] }>(`${path}?${q.toString()}`);
      for (const l of res.items) {
        print(l);
        after = l.id;
      }
      // The first read gives the last lines (like `tail -f`); from then on, only new ones in order.
      if (after === undefined) after = 0;
      if (res.items.length === Number(q.get('limit'))) continue;
    } catch (err) {
      if (err instanceof ApiError && err.status >= 400 && err.status < 500) throw err;
      o.err(`reading logs failed (${(err as Error).message}); retrying`);
    }
    await sleepUnlessAborted(opts.intervalMs ?? 1000, opts.signal);
  }
}

/** `kiln host logs HOST [--session S] [--severity L] [--grep T] [--since T] [--limit N] [--follow]`. */
export function registerHostLogsCommand(
  host: Command,
  api: () => ApiClient,
  o: Output,
  follow: LogFollowOptions = {},
): void {
  host
    .command('logs')
    .description("a host's syslog lines, oldest first (the last --limit, or the first --limit since --since)")
    .argument('<host>', 'name or id')
    .option('--session <id>', 'only this boot session')
    .option(
      '--severity <level>',
      'this severity and more severe: 0-7 or emerg, alert, crit, err, warning, notice, info, debug',
    )
    .option('--grep <text>', 'only lines containing this text (ASCII case-insensitive)')
    .option('--since <time>', 'ISO 8601 time')
    .option('--limit <n>', 'how many', '200')
    .option('-f, --follow', 'keep printing new lines as they arrive (polls every second)')
    .option('--json', 'print JSON (one line per object with --follow)')
    .action(async (id, opts) => {
      const qs = new URLSearchParams({
        limit: opts.limit,
        ...(opts.session ? { session: opts.session } : {}),
        ...(opts.severity ? { severity: opts.severity } : {}),
        ...(opts.grep ? { grep: opts.grep } : {}),
        ...(opts.since ? { since: opts.since } : {}),
      });
      const path = `/api/v1/hosts/${encodeURIComponent(id)}/logs`;
      if (opts.follow) {
        const print = (l: Line) => o.out(opts.json ? JSON.stringify(l) : formatLogLine(l));
        await followLogs(api(), path, qs, print, o, follow);
        return;
      }
      const res = await api().get<{ items: LogLineJson[] }>(`${path}?${qs.toString()}`);
      emit(o, opts.json, res.items, () => res.items.map(formatLogLine).join('\n'));
    });
}

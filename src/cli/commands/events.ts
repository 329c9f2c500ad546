import type { Command } from '@commander-js/extra-typings';
import { ApiError, type ApiClient } from '../api-client.js';
import { emit, type Output } from '../output.js';
import { createSseParser } from '../sse.js';
import { formatTable } from '../table.js';
import { sanitizeForDisplay } from '../../protocols/syslog/display-text.js';

interface EventJson {
  seq: number;
  at: string;
  actor: string;
  kind: string;
  hostId: string | null;
  subject: string | null;
  message: string;
  reason: string | null;
}

/** One event on one line; every field goes through the display sanitizer (a host name may hold escape codes). */
export function formatEventLine(e: EventJson): string {
  const f = (v: string | number | null) => sanitizeForDisplay(String(v ?? '-'));
  return `${f(e.seq)} ${f(e.at)} ${f(e.kind)} ${f(e.subject ?? e.hostId)} ${f(e.actor)} ${f(e.message)}${e.reason ? ` (${f(e.reason)})` : ''}`;
}

/** Knobs for `--follow`, injected by tests: the pause before a reconnect, and a signal that stops following. */
export interface FollowOptions {
  retryMs?: number;
  signal?: AbortSignal;
}

/**
 * Follows the event stream, printing each event as it comes; on a dropped connection it reconnects
 * with Last-Event-ID (the last position printed), so nothing is lost or printed twice.
 */
export async function followEvents(
  api: ApiClient,
  query: URLSearchParams,
  print: (e: EventJson, raw: string) => void,
  o: Output,
  opts: FollowOptions = {},
): Promise<void> {
  let lastId: string | undefined;
  const path = `/api/v1/events/stream${query.size ? `?${query.toString()}` : ''}`;
  while (!opts.signal?.aborted) {
    const parser = createSseParser();
    try {
      for await (const chunk of api.stream(path, lastId ? { 'last-event-id': lastId } : {}, opts.signal)) {
        for (const m of parser.push(chunk)) {
          print(JSON.parse(m.data) as EventJson, m.data);
          lastId = m.id;
        }
      }
    } catch (err) {
      if (opts.signal?.aborted) return;
      // A refused token or a bad filter does not get better by retrying.
      if (err instanceof ApiError && err.status >= 400 && err.status < 500) throw err;
    }
    if (opts.signal?.aborted) return;
    o.err(`event stream closed; reconnecting${lastId ? ` after ${lastId}` : ''}`);
    await new Promise((r) => setTimeout(r, opts.retryMs ?? 1000));
  }
}

/** `kiln events [--follow] [--kind K] [--host H]`: the event log, or the live stream. */
export function registerEventCommands(
  program: Command,
  api: () => ApiClient,
  o: Output,
  follow: FollowOptions = {},
): void {
  program
    .command('events')
    .description('events (audit log), oldest first; --follow streams new ones as they happen')
    .option('--kind <kind>', 'kind prefix (host. for every host event) or a whole kind')
    .option('--host <host>', 'one host (name or id)')
    .option('--after <seq>', 'start after this position')
    .option('--limit <n>', 'how many (without --follow)', '100')
    .option('-f, --follow', 'keep printing new events; reconnects without loss')
    .option('--json', 'print JSON (one event per line with --follow)')
    .action(async (opts) => {
      const client = api();
      const q = new URLSearchParams();
      if (opts.host)
        q.set('host', (await client.get<{ id: string }>(`/api/v1/hosts/${encodeURIComponent(opts.host)}`)).id);
      if (opts.follow) {
        if (opts.kind) q.set('kind', opts.kind);
        if (opts.after) q.set('after', opts.after);
        await followEvents(client, q, (e, raw) => o.out(opts.json ? raw : formatEventLine(e)), o, follow);
        return;
      }
      // The list route takes a prefix when it ends in "."; a whole kind otherwise.
      if (opts.kind) q.set('kind', opts.kind);
      if (opts.after) q.set('after', opts.after);
      q.set('limit', opts.limit);
      const res = await client.get<{ items: EventJson[] }>(`/api/v1/events?${q.toString()}`);
      emit(o, opts.json, res.items, () =>
        formatTable(
          ['SEQ', 'AT', 'KIND', 'SUBJECT', 'ACTOR', 'MESSAGE'],
          res.items.map((e) =>
            [e.seq, e.at, e.kind, e.subject ?? e.hostId, e.actor, e.message].map((v) =>
              sanitizeForDisplay(String(v ?? '')),
            ),
          ),
        ),
      );
    });
}

import type { FastifyPluginAsyncTypebox } from '../api/type-provider.js';
import { KilnError } from '../error/kiln-error.js';
import type { KilnEvent } from './event.js';
import type { EventFeed } from './event-feed.js';
import { EventStreamHeaders, EventStreamQuery } from './event-schemas.js';

/**
 * Server-Sent Events framing of one event: `id` is its position, `event` its
 * kind, `data` the event as JSON. Unnamed (`named` false), every event is a
 * `message` (what a browser's EventSource.onmessage receives without knowing
 * every kind).
 */
export function sseFrame(e: KilnEvent, named = true): string {
  // JSON.stringify never emits a raw newline; a kind is checked text, but keep it on one line anyway.
  const kind = named ? `event: ${e.kind.replace(/[\r\n]/g, ' ')}\n` : '';
  return `id: ${e.seq}\n${kind}data: ${JSON.stringify(e)}\n\n`;
}

/** Timers for the heartbeat, injected by tests. */
export interface HeartbeatTimers {
  setInterval(fn: () => void, ms: number): unknown;
  clearInterval(handle: unknown): void;
}

/**
 * GET /api/v1/events/stream: the event log live, resumable with Last-Event-ID.
 * The web UI registers it again under /ui with `session` (its cookie is a
 * credential there) and unnamed frames.
 */
export const eventStreamRoutes: FastifyPluginAsyncTypebox<{
  feed: EventFeed;
  heartbeatMs?: number;
  timers?: HeartbeatTimers;
  session?: boolean;
  named?: boolean;
}> = async (app, { feed, heartbeatMs = 15_000, timers, session = false, named = true }) => {
  const t: HeartbeatTimers = timers ?? {
    setInterval: (fn, ms) => setInterval(fn, ms),
    clearInterval: (h) => clearInterval(h as NodeJS.Timeout),
  };
  app.get(
    '/events/stream',
    {
      config: { access: 'viewer', session },
      schema: {
        tags: ['events'],
        summary: 'Follow events live (Server-Sent Events; id = position, resumable with Last-Event-ID)',
        querystring: EventStreamQuery,
        headers: EventStreamHeaders,
      },
    },
    (req, reply) => {
      // A stream never ends: only a client that says it takes one (EventSource, curl, fetch: */*) gets it.
      const accept = req.headers.accept ?? '';
      if (!/text\/event-stream|\*\/\*/.test(accept))
        throw new KilnError(
          'validation_failed',
          'this route streams Server-Sent Events: send Accept: text/event-stream',
        );
      const lastId = req.headers['last-event-id'];
      const after = lastId !== undefined ? Number(lastId) : req.query.after;
      const res = reply.raw;
      reply.hijack();
      res.writeHead(200, {
        'content-type': 'text/event-stream; charset=utf-8',
        'cache-control': 'no-store',
        connection: 'keep-alive',
        'x-accel-buffering': 'no',
      });
      res.write(': kiln events\n\n');
      let outstanding = 0;
      let waiting = false;
      const sub = feed.subscribe({
        filter: { kindPrefix: req.query.kind, hostId: req.query.host },
        after,
        deliver(events) {
          let ok = true;
          for (const e of events) ok = res.write(sseFrame(e, named));
          outstanding += events.length;
          if (ok && !waiting) {
            sub.drained(outstanding);
            outstanding = 0;
          } else if (!waiting) {
            waiting = true;
            res.once('drain', () => {
              waiting = false;
              sub.drained(outstanding);
              outstanding = 0;
            });
          }
        },
        end(reason) {
          t.clearInterval(beat);
          if (!res.writableEnded) {
            res.end(reason === 'too_slow' ? ': disconnected: too slow, resume with Last-Event-ID\n\n' : ': closed\n\n');
          }
        },
      });
      const beat = t.setInterval(() => res.write(': heartbeat\n\n'), heartbeatMs);
      res.on('close', () => {
        t.clearInterval(beat);
        sub.close();
      });
    },
  );
};

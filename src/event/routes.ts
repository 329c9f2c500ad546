import type { FastifyPluginAsyncTypebox } from '../api/type-provider.js';
import type { EventFilter, KilnEvent } from './event.js';
import { EventListQuery, EventListReply } from './event-schemas.js';

/** The audit log under /api/v1/events. */
export const eventRoutes: FastifyPluginAsyncTypebox<{ listEvents: (f: EventFilter) => Promise<KilnEvent[]> }> = async (
  app,
  { listEvents },
) => {
  app.get(
    '/events',
    {
      config: { access: 'viewer' },
      schema: {
        tags: ['events'],
        summary: 'List events (audit log), filter by host, kind, actor',
        querystring: EventListQuery,
        response: { 200: EventListReply },
      },
    },
    async (req) => {
      const q = req.query;
      const limit = q.limit ?? 100;
      const prefix = q.kind?.endsWith('.') ? q.kind : undefined;
      const items = await listEvents({
        hostId: q.host,
        kind: prefix ? undefined : q.kind,
        kindPrefix: prefix,
        actor: q.actor,
        after: q.after,
        before: q.before,
        order: q.order,
        limit,
      });
      return { items, next: items.length === limit ? items.at(-1)!.seq : null };
    },
  );
};

import { Type } from '@sinclair/typebox';
import type { FastifyPluginAsyncTypebox } from '../api/type-provider.js';
import { KilnError } from '../error/kiln-error.js';
import type { SessionView, TimelineHost, TimelineView } from './timeline-service.js';

const Nullable = <T extends ReturnType<typeof Type.String>>(t: T) => Type.Union([t, Type.Null()]);
const Params = Type.Object({ host: Type.String({ description: 'host id or name' }) });

const SessionReply = Type.Object({
  session: Type.String(),
  mac: Type.String(),
  hostId: Nullable(Type.String()),
  hostName: Type.String(),
  startedAt: Type.String(),
  updatedAt: Type.String(),
  firmware: Type.String(),
  arch: Nullable(Type.String()),
  purpose: Type.String(),
  reached: Nullable(Type.String()),
  expected: Nullable(Type.String()),
  status: Type.String({ description: 'in-progress, complete, stalled or failed' }),
  summary: Type.String({ description: 'e.g. "stopped after initrd, expected agent within 300 s"' }),
});

const TimelineReply = Type.Composite([
  SessionReply,
  Type.Object({
    stages: Type.Array(
      Type.Object({ at: Type.String(), stage: Type.String(), outcome: Type.String(), detail: Type.String() }),
    ),
  }),
]);

/** GET /api/v1/hosts/{host}/timeline and /sessions: a host's boot sessions and the stages of one (viewer, like its events). */
export const timelineRoutes: FastifyPluginAsyncTypebox<{
  /** The host; throws not_found for an unknown one. */
  host: (idOrName: string) => Promise<TimelineHost>;
  sessions: (h: TimelineHost) => Promise<SessionView[]>;
  timeline: (h: TimelineHost, session?: string) => Promise<TimelineView | null>;
}> = async (app, deps) => {
  app.get(
    '/hosts/:host/sessions',
    {
      config: { access: 'viewer' },
      schema: {
        tags: ['hosts', 'timeline'],
        summary: "A host's boot sessions, newest first, each with its status in one line",
        params: Params,
        response: { 200: Type.Object({ items: Type.Array(SessionReply) }) },
      },
    },
    async (req) => ({ items: await deps.sessions(await deps.host(req.params.host)) }),
  );
  app.get(
    '/hosts/:host/timeline',
    {
      config: { access: 'viewer' },
      schema: {
        tags: ['hosts', 'timeline'],
        summary: "One boot session's stages in order (default: the host's newest session) and where it stopped",
        params: Params,
        querystring: Type.Object(
          { session: Type.Optional(Type.String({ pattern: '^[0-9a-f]{12}$', description: 'boot session id' })) },
          { additionalProperties: false },
        ),
        response: { 200: TimelineReply },
      },
    },
    async (req) => {
      const h = await deps.host(req.params.host);
      const t = await deps.timeline(h, req.query.session);
      if (!t)
        throw new KilnError(
          'not_found',
          req.query.session
            ? `${h.name} has no boot session ${req.query.session}; list them with kiln host timeline ${h.name} --sessions`
            : `${h.name} has no boot session yet: Kiln has not seen it network-boot`,
        );
      return t;
    },
  );
};

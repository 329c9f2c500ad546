import type { FastifyPluginAsyncTypebox } from '../api/type-provider.js';
import type { StoredSyslogMessage, SyslogQuery } from './syslog-message-row.js';
import { SyslogLogParams, SyslogLogQuery, SyslogLogReply } from './syslog-schemas.js';

/** GET /api/v1/hosts/{host}/logs: a host's syslog lines, oldest first (viewer, like its events). */
export const syslogRoutes: FastifyPluginAsyncTypebox<{
  /** The host's id; throws not_found for an unknown host. */
  hostId: (idOrName: string) => Promise<string>;
  list: (q: SyslogQuery) => Promise<StoredSyslogMessage[]>;
}> = async (app, { hostId, list }) => {
  app.get(
    '/hosts/:host/logs',
    {
      config: { access: 'viewer' },
      schema: {
        tags: ['hosts', 'syslog'],
        summary: "A host's syslog lines, oldest first: the last `limit`, or the first `limit` since a time",
        params: SyslogLogParams,
        querystring: SyslogLogQuery,
        response: { 200: SyslogLogReply },
      },
    },
    async (req) => {
      const q = req.query;
      const id = await hostId(req.params.host);
      const items = await list({ hostId: id, sessionId: q.session, since: q.since, limit: q.limit ?? 200 });
      return { items };
    },
  );
};

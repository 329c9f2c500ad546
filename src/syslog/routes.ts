import type { FastifyPluginAsyncTypebox } from '../api/type-provider.js';
import { KilnError } from '../error/kiln-error.js';
import type { StoredSyslogMessage, SyslogQuery } from './syslog-message-row.js';
import {
  SyslogArrivalQuery,
  SyslogArrivalReply,
  SyslogLogParams,
  SyslogLogQuery,
  SyslogLogReply,
  severityNumber,
} from './syslog-schemas.js';

/**
 * GET /api/v1/hosts/{host}/logs: a host's syslog lines, oldest first (viewer, like its events);
 * GET /api/v1/node/syslog/arrived?key=: whether the calling node's own lines hold the key (node).
 */
export const syslogRoutes: FastifyPluginAsyncTypebox<{
  /** The host's id; throws not_found for an unknown host. */
  hostId: (idOrName: string) => Promise<string>;
  list: (q: SyslogQuery) => Promise<StoredSyslogMessage[]>;
  /** True when one of the host's recent lines contains `key`. */
  arrived: (hostId: string, key: string) => Promise<boolean>;
}> = async (app, { hostId, list, arrived }) => {
  app.get(
    '/hosts/:host/logs',
    {
      config: { access: 'viewer' },
      schema: {
        tags: ['hosts', 'syslog'],
        summary:
          "A host's syslog lines, oldest first: the last `limit`, or the first `limit` since a time or after an id",
        params: SyslogLogParams,
        querystring: SyslogLogQuery,
        response: { 200: SyslogLogReply },
      },
    },
    async (req) => {
      const q = req.query;
      const id = await hostId(req.params.host);
      const items = await list({
        hostId: id,
        sessionId: q.session,
        since: q.since,
        after: q.after,
        severity: q.severity === undefined ? undefined : severityNumber(q.severity),
        grep: q.grep,
        limit: q.limit ?? 200,
      });
      return { items };
    },
  );

  app.get(
    '/node/syslog/arrived',
    {
      config: { access: 'node' },
      schema: {
        tags: ['node', 'syslog'],
        summary:
          "Whether one of this node's own recent syslog lines contains `key` (log a random key, then ask; docs/syslog.md)",
        querystring: SyslogArrivalQuery,
        response: { 200: SyslogArrivalReply },
      },
    },
    async (req) => {
      const p = req.principal;
      if (p?.kind !== 'node') throw new KilnError('credential_invalid', 'this call needs a node credential');
      // Only the caller's own lines: a node learns nothing about another host's logs.
      return { received: await arrived(p.hostId, req.query.key) };
    },
  );
};

import type { FastifyPluginAsyncTypebox } from '../api/type-provider.js';
import type { Registry } from 'prom-client';

/** GET /metrics: Prometheus text format. Authenticated like every call (a viewer token: `authorization: { credentials_file: … }` in the scrape config). */
export const metricsRoutes: FastifyPluginAsyncTypebox<{ registry: Registry }> = async (app, { registry }) => {
  app.get(
    '/metrics',
    { config: { access: 'viewer' }, schema: { tags: ['metrics'], summary: 'Prometheus metrics of this controller' } },
    async (_req, reply) => {
      reply.header('content-type', registry.contentType);
      return registry.metrics();
    },
  );
};

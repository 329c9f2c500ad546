import type { FastifyPluginAsyncTypebox } from '../../api/type-provider.js';
import { Type } from '@sinclair/typebox';
import type { BootService } from './boot-service.js';

const ipxe = 'text/plain; charset=utf-8';

/**
 * The iPXE entry points. Public by design: firmware carries no credential,
 * and these scripts hold no secret (install files and secrets are fetched
 * by the node with its credential).
 */
export const bootRoutes: FastifyPluginAsyncTypebox<{ boot: BootService }> = async (app, { boot }) => {
  // Fastify's two request lines at info would be most of a script fetch's cost at boot-storm rates (and the
  // retried fetches of one boot would flood the log): at info the script routes log warnings and errors only;
  // the boot service logs each boot stage once. At debug every request is logged as before.
  const quiet = app.log.level === 'info' ? { logLevel: 'warn' as const } : {};
  app.get(
    '/boot.ipxe',
    {
      ...quiet,
      config: { access: 'public' },
      schema: { tags: ['boot'], summary: 'The first iPXE script: chains to the per-host script' },
    },
    async (_req, reply) => reply.type(ipxe).send(boot.chainScript()),
  );
  app.get(
    '/boot/host.ipxe',
    {
      ...quiet,
      config: { access: 'public' },
      schema: {
        tags: ['boot'],
        summary: "A host's iPXE script, chosen by its state",
        querystring: Type.Object({
          mac: Type.Optional(Type.String({ maxLength: 64 })),
          uuid: Type.Optional(Type.String({ maxLength: 64 })),
          arch: Type.Optional(Type.String({ maxLength: 32 })),
          platform: Type.Optional(Type.String({ maxLength: 32 })),
        }),
      },
    },
    async (req, reply) => reply.type(ipxe).send(await boot.hostScript(req.query, req.ip)),
  );
};

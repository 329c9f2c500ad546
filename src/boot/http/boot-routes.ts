import type { FastifyPluginAsyncTypebox } from '../../api/type-provider.js';
import { Type } from '@sinclair/typebox';
import type { BootService } from './boot-service.js';

/** The content type of every iPXE script Kiln answers (the routes here and the fast path). */
export const IPXE_CONTENT_TYPE = 'text/plain; charset=utf-8';
const ipxe = IPXE_CONTENT_TYPE;

/** The longest value each per-host script query field takes (characters); longer is `validation_failed`. */
export const HOST_SCRIPT_QUERY_MAX = { mac: 64, uuid: 64, arch: 32, platform: 32 } as const;

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
          mac: Type.Optional(Type.String({ maxLength: HOST_SCRIPT_QUERY_MAX.mac })),
          uuid: Type.Optional(Type.String({ maxLength: HOST_SCRIPT_QUERY_MAX.uuid })),
          arch: Type.Optional(Type.String({ maxLength: HOST_SCRIPT_QUERY_MAX.arch })),
          platform: Type.Optional(Type.String({ maxLength: HOST_SCRIPT_QUERY_MAX.platform })),
        }),
      },
    },
    async (req, reply) => reply.type(ipxe).send(await boot.hostScript(req.query, req.ip)),
  );
};

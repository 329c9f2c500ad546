import { Type } from '@sinclair/typebox';
import { open } from 'node:fs/promises';
import type { FastifyPluginAsyncTypebox } from '../api/type-provider.js';
import { KilnError } from '../error/kiln-error.js';

/**
 * `GET /api/v1/cluster/content/<objects|manifests>/<id>` (a member credential,
 * HTTPS only): what this member holds itself, for a peer that lacks it
 * (peer-fetch.ts). Never fetched from another peer on the way, so a miss is a
 * 404 at once and two members cannot ask each other in a loop. The caller
 * checks the bytes against the id; this route sends the file as stored.
 */
export const contentRoutes: FastifyPluginAsyncTypebox<{
  /** The local file of an item, or null when the id is not one (ids are checked by the schema first). */
  pathOf: (kind: 'objects' | 'manifests', id: string) => string | null;
}> = async (app, { pathOf }) => {
  app.get(
    '/cluster/content/:kind/:id',
    {
      config: { access: 'member' },
      schema: {
        tags: ['controllers'],
        summary: 'One image object or manifest this member holds, for a peer member (never fetched from another)',
        params: Type.Object({
          kind: Type.Union([Type.Literal('objects'), Type.Literal('manifests')]),
          id: Type.String({ pattern: '^[0-9a-f]{64}$', description: 'SHA-256, 64 lower-case hex digits' }),
        }),
      },
    },
    async (req, reply) => {
      const { kind, id } = req.params;
      const path = pathOf(kind, id);
      const fh = path ? await open(path, 'r').catch(() => null) : null;
      if (!fh) throw new KilnError('not_found', `this member has no ${kind.slice(0, -1)} ${id}`);
      const { size } = await fh.stat();
      reply.header('content-type', 'application/octet-stream');
      reply.header('content-length', size);
      // The stream owns the handle and closes it at its end or on error.
      return reply.send(fh.createReadStream());
    },
  );
};

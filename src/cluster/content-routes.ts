import { Type } from '@sinclair/typebox';
import type { FastifyReply } from 'fastify';
import { open } from 'node:fs/promises';
import type { FastifyPluginAsyncTypebox } from '../api/type-provider.js';
import { KilnError } from '../error/kiln-error.js';
import { REPO_TREE_PATH } from '../repo/repo-layout.js';

/**
 * What the member route serves by SHA-256: objects and manifests by id, an image's tarball by its `sha256`, a file
 * of Kiln's node image by its recorded `sha256` (docs/adr/0016-node-image-between-members.md).
 */
export type HashedContentKind = 'objects' | 'manifests' | 'tarballs' | 'node-image';

/**
 * `GET /api/v1/cluster/content/<objects|manifests|tarballs|node-image>/<sha256>`,
 * `GET /api/v1/cluster/content/images/<name>` and
 * `GET /api/v1/cluster/content/repo/<dists|pool>/…` (a member credential, HTTPS
 * only): what this member holds itself, for a peer that lacks it
 * (peer-fetch.ts; a repo file for a peer re-publishing this member's signed subset, src/repo/peer-tree.ts). Never fetched from another peer on the way, so a miss is a
 * 404 at once and two members cannot ask each other in a loop. The caller
 * checks the bytes against the id (a record: what it names); this route sends
 * the file as stored.
 */
export const contentRoutes: FastifyPluginAsyncTypebox<{
  /** The local file of an item, or null when there is none (ids are checked by the schema first). */
  pathOf: (kind: HashedContentKind, id: string) => string | null;
  /** The record file of an image imported on this member (never one taken from a peer), or null. */
  recordOf: (name: string) => string | null;
  /** The file at a path (checked against REPO_TREE_PATH first) of this member's published repo subset, or null. */
  repoPathOf?: (path: string) => string | null;
}> = async (app, { pathOf, recordOf, repoPathOf }) => {
  const send = async (reply: FastifyReply, path: string | null, what: string) => {
    const fh = path ? await open(path, 'r').catch(() => null) : null;
    const st = fh ? await fh.stat() : null;
    if (!fh || !st?.isFile()) {
      await fh?.close();
      throw new KilnError('not_found', `this member has no ${what}`);
    }
    const { size } = st;
    reply.header('content-type', 'application/octet-stream');
    reply.header('content-length', size);
    // The stream owns the handle and closes it at its end or on error.
    return reply.send(fh.createReadStream());
  };
  app.get(
    '/cluster/content/images/:name',
    {
      config: { access: 'member' },
      schema: {
        tags: ['controllers'],
        summary: 'The record of an image imported on this member, for a peer member (never one it took from a peer)',
        params: Type.Object({ name: Type.String({ pattern: '^[a-z0-9][a-z0-9._-]{0,62}$' }) }),
      },
    },
    async (req, reply) => send(reply, recordOf(req.params.name), `image record ${req.params.name} of its own`),
  );
  app.get(
    '/cluster/content/repo/*',
    {
      config: { access: 'member' },
      schema: {
        tags: ['controllers'],
        summary:
          "A file of this member's published repo subset (its InRelease, an index, a package), for a peer re-publishing it",
        params: Type.Object({ '*': Type.String({ pattern: REPO_TREE_PATH.source, maxLength: 1000 }) }),
      },
    },
    async (req, reply) => send(reply, repoPathOf?.(req.params['*']) ?? null, `repo file ${req.params['*']}`),
  );
  app.get(
    '/cluster/content/:kind/:id',
    {
      config: { access: 'member' },
      schema: {
        tags: ['controllers'],
        summary:
          "One image object, manifest or tarball, or a file of Kiln's node image (by its SHA-256) this member holds, for a peer member (never fetched from another)",
        params: Type.Object({
          kind: Type.Union([
            Type.Literal('objects'),
            Type.Literal('manifests'),
            Type.Literal('tarballs'),
            Type.Literal('node-image'),
          ]),
          id: Type.String({ pattern: '^[0-9a-f]{64}$', description: 'SHA-256, 64 lower-case hex digits' }),
        }),
      },
    },
    async (req, reply) =>
      send(reply, pathOf(req.params.kind, req.params.id), `${req.params.kind.replace(/s$/, '')} ${req.params.id}`),
  );
};

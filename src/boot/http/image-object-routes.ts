/**
 * Image objects and manifests over HTTP, public like `/images/` (firmware and
 * the image writer carry no credential; an image holds no host secret: SSH
 * host keys and machine-id are made on the node):
 *
 *   GET|HEAD /images/objects/<id>       one object (Range, ETag; immutable)
 *   GET|HEAD /images/manifests/<id>     one manifest's canonical JSON
 *   GET|HEAD /images/manifests/<id>/<view>  what the image writer reads of it
 *   POST     /images/objects/pack       many objects in one body (pack-frame.ts)
 *
 * Single files go through the served-path rule (docs/adr/0006) and
 * @fastify/static, like every boot file.
 */
import fastifyStatic from '@fastify/static';
import { Type, type Static } from '@sinclair/typebox';
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { open, stat } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { Readable } from 'node:stream';
import { createServedRoot, type ServedRoot } from '../served-path.js';
import { installBootFileErrors, sendBootFile } from './send-boot-file.js';
import { KilnError } from '../../error/kiln-error.js';
import { INSTALL_VIEWS } from '../../image/objects/install-views.js';
import { encodePackFrameHeader, PACK_MAGIC } from '../../image/objects/pack-frame.js';

/** Options of `imageObjectRoutes`. */
export interface ImageObjectRoutesOptions {
  objects: ServedObjects;
  manifests: { dir: string };
  /**
   * Brings what this controller lacks from another member of the store before
   * it is served (image/objects/peer-content.ts); resolves true when it is
   * here then. Absent: a missing id is a 404 at once.
   */
  fromPeers?: { object(id: string): Promise<boolean>; manifest(id: string): Promise<boolean> };
}

/** What these routes read of the image domain's object store (image/objects/object-store.ts). */
export interface ServedObjects {
  dir: string;
  /** The object's file. */
  pathOf(id: string): string;
  /** Its path under `dir` (`ab/cdef…`). */
  relPathOf(id: string): string;
  /** Its size in bytes, null when absent. */
  size(id: string): Promise<number | null>;
}

/** Most ids one pack request may name: more than a Debian root's files, so one request can fetch a whole image. */
export const MAX_PACK_IDS = 65536;

const Id = Type.String({ pattern: '^[0-9a-f]{64}$', description: 'SHA-256, 64 lower-case hex digits' });
const IdParams = Type.Object({ id: Id });
const PackBody = Type.Object(
  { ids: Type.Array(Id, { minItems: 1, maxItems: MAX_PACK_IDS }) },
  { additionalProperties: false },
);

/** Objects never change under their id: a year, immutable. */
const IMMUTABLE = 'public, max-age=31536000, immutable';

async function* packBody(objects: ServedObjects, ids: readonly string[]): AsyncGenerator<Uint8Array> {
  yield PACK_MAGIC;
  for (const id of ids) {
    const fh = await open(objects.pathOf(id), 'r');
    try {
      const { size } = await fh.stat();
      yield encodePackFrameHeader(id, size);
      let left = size;
      while (left > 0) {
        const buf = Buffer.allocUnsafe(Math.min(left, 1 << 20));
        const { bytesRead } = await fh.read(buf, 0, buf.length, size - left);
        if (bytesRead === 0) throw new Error(`object ${id} shrank while packing`);
        left -= bytesRead;
        yield buf.subarray(0, bytesRead);
      }
    } finally {
      await fh.close();
    }
  }
}

function fileRoutes(app: FastifyInstance, opts: ImageObjectRoutesOptions): void {
  const objectsRoot: ServedRoot = createServedRoot(opts.objects.dir);
  const manifestsRoot: ServedRoot = createServedRoot(opts.manifests.dir);
  const peers = opts.fromPeers;
  const isFile = (path: string) =>
    stat(path).then(
      (s) => s.isFile(),
      () => false,
    );
  // A miss asks the peers first; whatever they answer, the local file then decides (404 when still absent).
  const ensureManifestFile = async (id: string, file: string) => {
    if (peers && !(await isFile(join(opts.manifests.dir, file)))) await peers.manifest(id);
  };
  app.get<{ Params: Static<typeof IdParams> }>(
    '/images/objects/:id',
    {
      config: { access: 'public' },
      schema: { tags: ['images'], summary: 'one image object by SHA-256 (Range and HEAD work)', params: IdParams },
    },
    async (req: FastifyRequest<{ Params: Static<typeof IdParams> }>, reply: FastifyReply) => {
      if (peers) await ensureObjectOf(opts, req.params.id);
      reply.header('cache-control', IMMUTABLE);
      return sendBootFile(req, reply, objectsRoot, opts.objects.relPathOf(req.params.id), {
        cacheControl: false,
        where: '/images/objects/',
      });
    },
  );
  app.get<{ Params: Static<typeof IdParams> }>(
    '/images/manifests/:id',
    {
      config: { access: 'public' },
      schema: {
        tags: ['images'],
        summary: 'an image manifest by image id: canonical JSON whose SHA-256 is the id',
        params: IdParams,
      },
    },
    async (req: FastifyRequest<{ Params: Static<typeof IdParams> }>, reply: FastifyReply) => {
      await ensureManifestFile(req.params.id, `${req.params.id}.json`);
      reply.header('cache-control', IMMUTABLE);
      return sendBootFile(req, reply, manifestsRoot, `${req.params.id}.json`, {
        cacheControl: false,
        where: '/images/manifests/',
      });
    },
  );
  const ViewParams = Type.Object({
    id: Id,
    view: Type.Union(
      INSTALL_VIEWS.map((v) => Type.Literal(v)),
      { description: 'files, mtree, xattrs or hardlinks (image/objects/install-views.ts)' },
    ),
  });
  app.get<{ Params: Static<typeof ViewParams> }>(
    '/images/manifests/:id/:view',
    {
      config: { access: 'public' },
      schema: {
        tags: ['images'],
        summary: "what the image writer reads of a manifest (its SHA-256 is in the writer's install plan)",
        params: ViewParams,
      },
    },
    async (req: FastifyRequest<{ Params: Static<typeof ViewParams> }>, reply: FastifyReply) => {
      // A view is rendered from the verified manifest, never taken from a peer.
      await ensureManifestFile(req.params.id, `${req.params.id}.${req.params.view}`);
      reply.header('cache-control', IMMUTABLE);
      return sendBootFile(req, reply, manifestsRoot, `${req.params.id}.${req.params.view}`, {
        cacheControl: false,
        where: '/images/manifests/',
      });
    },
  );
}

async function ensureObjectOf(opts: ImageObjectRoutesOptions, id: string): Promise<void> {
  if ((await opts.objects.size(id)) === null) await opts.fromPeers?.object(id);
}

/** Registers the routes (prefix ''). */
export async function imageObjectRoutes(app: FastifyInstance, opts: ImageObjectRoutesOptions): Promise<void> {
  // Single files: their own context, with @fastify/static and the boot-file error mapping (refusals are 404s).
  await app.register(async (files) => {
    await files.register(fastifyStatic, {
      // Only a default (every send names its directory); the images directory, which exists whenever /images/ is served.
      root: dirname(opts.objects.dir),
      serve: false,
      index: false,
      list: false,
      dotfiles: 'deny',
      acceptRanges: true,
      etag: true,
      lastModified: true,
      cacheControl: false,
    });
    installBootFileErrors(files, '/images/');
    fileRoutes(files, opts);
  });
  app.post<{ Body: Static<typeof PackBody> }>(
    '/images/objects/pack',
    {
      bodyLimit: 8 << 20,
      config: { access: 'public' },
      schema: {
        tags: ['images'],
        summary: 'many objects in one response: KLNPACK1, then per id its 32 raw bytes, a u64 size and the bytes',
        body: PackBody,
      },
    },
    async (req: FastifyRequest<{ Body: Static<typeof PackBody> }>, reply: FastifyReply) => {
      const { ids } = req.body;
      // The peer fetcher bounds how many of these run at once.
      if (opts.fromPeers) await Promise.all(ids.map((id) => ensureObjectOf(opts, id)));
      const sizes = await Promise.all(ids.map((id) => opts.objects.size(id)));
      const missing = ids.filter((_, i) => sizes[i] === null);
      if (missing.length > 0)
        throw new KilnError('not_found', `${missing.length} of ${ids.length} objects are not in the store`, {
          details: { missing: missing.slice(0, 20) },
        });
      const total = PACK_MAGIC.length + sizes.reduce<number>((s, n) => s + 40 + (n ?? 0), 0);
      reply.header('content-type', 'application/octet-stream');
      reply.header('content-length', total);
      return reply.send(Readable.from(packBody(opts.objects, ids), { objectMode: false }));
    },
  );
}

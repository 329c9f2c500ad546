import { Type } from '@sinclair/typebox';
import type { FastifyPluginAsyncTypebox } from '../../api/type-provider.js';
import fastifyStatic from '@fastify/static';
import { KilnError } from '../../error/kiln-error.js';
import type { ProfileCatalog } from '../../profile/profile-catalog.js';
import { createServedRoot, type ServedRoot } from '../served-path.js';
import type { BootFileCache } from './boot-file-cache.js';
import { installBootFileErrors, noBootFile, sendBootFile } from './send-boot-file.js';

/** One served root per directory, kept while the directory is in use (a profile reload gives a new LoadedProfile, same dir). */
function rootsByDir(): (dir: string) => ServedRoot {
  const roots = new Map<string, ServedRoot>();
  return (dir) => {
    let r = roots.get(dir);
    if (!r) {
      if (roots.size >= 1024) roots.clear();
      r = createServedRoot(dir);
      roots.set(dir, r);
    }
    return r;
  };
}

/**
 * `/boot/profiles/<profile>/<path>`: a profile's own boot files (kernels,
 * initrds kept in its directory). Only files the loaded profile lists as
 * boot files are served (regular files; a profile holding a link is refused
 * at load); templates, scripts and snippets never are. Each request also
 * passes the served-path rule (served-path.ts), so a file swapped for a link
 * after load is not followed out of the profile.
 */
export const profileFilesRoutes: FastifyPluginAsyncTypebox<{
  profiles: ProfileCatalog;
  cache?: BootFileCache | undefined;
}> = async (app, { profiles, cache }) => {
  await app.register(fastifyStatic, {
    root: '/',
    serve: false,
    dotfiles: 'deny',
    acceptRanges: true,
    etag: true,
    index: false,
    list: false,
  });
  installBootFileErrors(app, '/boot/profiles/');
  const rootOf = rootsByDir();
  app.get(
    '/boot/profiles/:profile/*',
    {
      config: { access: 'public' },
      schema: {
        tags: ['boot'],
        summary: 'a boot file the profile lists (kernel, initrd); no credential',
        params: Type.Object({ profile: Type.String(), '*': Type.String() }),
      },
    },
    async (req, reply) => {
      const { profile: name, '*': rel } = req.params;
      const where = `/boot/profiles/${name}/`;
      const p = profiles.get(name);
      if (!p) throw noBootFile(req, '/boot/profiles/', `${name}/${rel}`, 'no such profile loaded');
      if (!p.bootFiles.has(rel)) throw noBootFile(req, where, rel, 'not a boot file of the loaded profile');
      return sendBootFile(req, reply, rootOf(p.dir), rel, { cache, cacheControl: true, where });
    },
  );
};

/**
 * `/boot/kiln/<arch>/<file>[?version=<v>]`: Kiln's node image (vmlinuz, initrd.img), looked up at each request so
 * a build after start is served. Without `version`: the image this member serves now; with it: exactly that version
 * (this member's own, or a copy checked against the store's record, fetched from a peer when missing), or a 404,
 * never another version's file (docs/adr/0016-node-image-between-members.md).
 */
export const nodeImageRoutes: FastifyPluginAsyncTypebox<{
  /** The directory holding the file, or null (node-image-source.ts). */
  resolve: (arch: string, file: string, version?: string) => Promise<string | null>;
  cache?: BootFileCache | undefined;
}> = async (app, { resolve, cache }) => {
  await app.register(fastifyStatic, {
    root: '/',
    serve: false,
    dotfiles: 'deny',
    acceptRanges: true,
    etag: true,
    index: false,
    list: false,
  });
  installBootFileErrors(app, '/boot/kiln/');
  const rootOf = rootsByDir();
  app.get(
    '/boot/kiln/:arch/:file',
    {
      config: { access: 'public' },
      schema: {
        tags: ['boot'],
        summary: "Kiln's node image: vmlinuz or initrd.img (of one version when asked); no credential",
        params: Type.Object({ arch: Type.String(), file: Type.String() }),
        querystring: Type.Object({
          version: Type.Optional(Type.String({ pattern: '^[A-Za-z0-9][A-Za-z0-9._+-]{0,127}$' })),
        }),
      },
    },
    async (req, reply) => {
      const { arch, file } = req.params;
      const { version } = req.query;
      const where = '/boot/kiln/';
      const dir = await resolve(arch, file, version);
      if (!dir) {
        req.log.debug({ where, arch, file, version: version ?? null }, 'boot file refused');
        throw new KilnError(
          'not_found',
          `no node image file ${JSON.stringify(`${arch}/${file}`.slice(0, 120))}${version ? ` of version ${version}` : ''}; build it with \`kiln image build-discovery\``,
        );
      }
      return sendBootFile(req, reply, rootOf(dir), file, { cache, cacheControl: true, where });
    },
  );
};

import type { FastifyPluginAsync } from 'fastify';
import fastifyStatic from '@fastify/static';
import { KilnError } from '../../error/kiln-error.js';
import type { ProfileCatalog } from '../../profile/profile-catalog.js';

/**
 * `/boot/profiles/<profile>/<path>`: a profile's own boot files (kernels,
 * initrds kept in its directory). Only files the loaded profile lists as
 * boot files are served; templates, scripts and snippets never are.
 */
export const profileFilesRoutes: FastifyPluginAsync<{ profiles: ProfileCatalog }> = async (app, { profiles }) => {
  await app.register(fastifyStatic, { root: '/', serve: false, dotfiles: 'deny', acceptRanges: true, etag: true, index: false, list: false });
  app.get('/boot/profiles/:profile/*', { config: { access: 'public' }, schema: { hide: true } }, async (req, reply) => {
    const { profile: name, '*': rel } = req.params as { profile: string; '*': string };
    const p = profiles.get(name);
    if (!p || !p.bootFiles.has(rel)) throw new KilnError('not_found', `no boot file ${rel} in profile ${name}`);
    return reply.sendFile(rel, p.dir);
  });
};

/** `/boot/kiln/<arch>/<file>`: Kiln's node image (vmlinuz, initrd.img), looked up at each request so a build after start is served. */
export const nodeImageRoutes: FastifyPluginAsync<{ nodeImage: () => { dir: string; arch: string } | null }> = async (app, { nodeImage }) => {
  await app.register(fastifyStatic, { root: '/', serve: false, dotfiles: 'deny', acceptRanges: true, etag: true, index: false, list: false });
  app.get('/boot/kiln/:arch/:file', { config: { access: 'public' }, schema: { hide: true } }, async (req, reply) => {
    const { arch, file } = req.params as { arch: string; file: string };
    const img = nodeImage();
    if (!img || img.arch !== arch || !['vmlinuz', 'initrd.img'].includes(file)) throw new KilnError('not_found', `no node image file ${arch}/${file}; build it with \`kiln image build-discovery\``);
    return reply.sendFile(file, img.dir);
  });
};

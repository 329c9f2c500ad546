import type { FastifyPluginAsync } from 'fastify';
import fastifyStatic from '@fastify/static';
import { KilnError } from '../../error/kiln-error.js';
import type { ProfileCatalog } from '../../profile/profile-catalog.js';
import type { BootFileCache } from './boot-file-cache.js';
import { sendBootFile } from './send-boot-file.js';

/**
 * `/boot/profiles/<profile>/<path>`: a profile's own boot files (kernels,
 * initrds kept in its directory). Only files the loaded profile lists as
 * boot files are served; templates, scripts and snippets never are.
 */
export const profileFilesRoutes: FastifyPluginAsync<{ profiles: ProfileCatalog; cache?: BootFileCache | undefined }> = async (app, { profiles, cache }) => {
  await app.register(fastifyStatic, { root: '/', serve: false, dotfiles: 'deny', acceptRanges: true, etag: true, index: false, list: false });
  app.get('/boot/profiles/:profile/*', { config: { access: 'public' }, schema: { tags: ['boot'], summary: 'a boot file the profile lists (kernel, initrd); no credential' } }, async (req, reply) => {
    const { profile: name, '*': rel } = req.params as { profile: string; '*': string };
    const p = profiles.get(name);
    if (!p || !p.bootFiles.has(rel)) throw new KilnError('not_found', `no boot file ${rel} in profile ${name}`);
    return sendBootFile(req, reply, p.dir, rel, { cache, cacheControl: true });
  });
};

/** `/boot/kiln/<arch>/<file>`: Kiln's node image (vmlinuz, initrd.img), looked up at each request so a build after start is served. */
export const nodeImageRoutes: FastifyPluginAsync<{ nodeImage: () => { dir: string; arch: string } | null; cache?: BootFileCache | undefined }> = async (app, { nodeImage, cache }) => {
  await app.register(fastifyStatic, { root: '/', serve: false, dotfiles: 'deny', acceptRanges: true, etag: true, index: false, list: false });
  app.get('/boot/kiln/:arch/:file', { config: { access: 'public' }, schema: { tags: ['boot'], summary: 'Kiln\'s node image: vmlinuz or initrd.img; no credential' } }, async (req, reply) => {
    const { arch, file } = req.params as { arch: string; file: string };
    const img = nodeImage();
    if (!img || img.arch !== arch || !['vmlinuz', 'initrd.img'].includes(file)) throw new KilnError('not_found', `no node image file ${arch}/${file}; build it with \`kiln image build-discovery\``);
    return sendBootFile(req, reply, img.dir, file, { cache, cacheControl: true });
  });
};

/**
 * Boot files over HTTP: a Fastify plugin serving one directory read-only
 * under a prefix (default `/boot/`), with GET, HEAD and byte ranges (RFC 9110
 * §14) so iPXE and UEFI HTTP boot can fetch kernels, initrds and images.
 */
import type { FastifyReply } from 'fastify';
import { Type } from '@sinclair/typebox';
import type { FastifyPluginAsyncTypebox } from '../../api/type-provider.js';
import fastifyStatic from '@fastify/static';
import { createServedRoot } from '../served-path.js';
import type { BootFileCache } from './boot-file-cache.js';
import { installBootFileErrors, sendBootFile } from './send-boot-file.js';

/** Options of `bootFilesPlugin`; `root` must be an absolute directory path. */
export interface BootFilesOptions {
  root: string;
  /**
   * URL prefix ending in '/'. Named so because Fastify's own `prefix` register
   * option would nest under this one (giving `/boot/boot/`). @default '/boot/'
   */
  urlPrefix?: string;
  /** Whole-file memory cache for plain GETs (boot-file-cache.ts); absent: every request streams from disk. */
  cache?: BootFileCache | undefined;
  /**
   * Exact names served even through a symlink out of `root`: the configured
   * boot files (Debian links /usr/lib/ipxe/ipxe.efi to /boot/ipxe.efi); the
   * same list TFTP gets (served-path.ts). @default []
   */
  linkedFiles?: readonly string[];
  /**
   * Runs before each file is sent, with the path below the prefix: brings a
   * file this controller lacks from a peer member (image/tarball-files.ts).
   * The local file then decides, as without it.
   */
  beforeSend?: (rel: string) => Promise<void>;
}

/**
 * Read size for file streams: fs.createReadStream's 64 KiB default costs one
 * read, one socket write and their callbacks per 64 KiB of a kernel or
 * initrd. 256 KiB measured best (1 and 4 MiB were slower) and bounds the
 * buffering per slow client in a boot storm to about twice that.
 */
const READ_CHUNK_BYTES = 256 << 10;

/** The path below the prefix (Fastify names a wildcard's match `*`). */
const WildcardParams = Type.Object({ '*': Type.String() });

/**
 * Registers the static route. Names go through the rule every served root
 * shares (served-path.ts, also TFTP's): no `..`, dotfile, backslash, `%` or
 * control character, and the real path stays inside `root` (symlinks inside
 * it are followed, links out of it refused unless named in `linkedFiles`).
 * Every refusal is a 404 with Kiln's error body, logged at debug. No
 * directory listings. Caching headers: ETag and Last-Modified, no max-age
 * (files change on deploy).
 */
export const bootFilesPlugin: FastifyPluginAsyncTypebox<BootFilesOptions> = async (app, opts) => {
  // `serve: false`: @fastify/static only decorates reply.sendFile here; the
  // route below is Kiln's own so it can declare its access like every route
  // (firmware fetches carry no credential: boot files are public by design).
  await app.register(fastifyStatic, {
    root: opts.root,
    serve: false,
    index: false,
    list: false,
    dotfiles: 'deny',
    acceptRanges: true,
    etag: true,
    lastModified: true,
    cacheControl: false,
  });
  // @fastify/send passes highWaterMark to fs.createReadStream (lib/send.js); its typings omit it.
  const sendOptions = { highWaterMark: READ_CHUNK_BYTES } as Parameters<FastifyReply['sendFile']>[2];
  const prefix = opts.urlPrefix ?? '/boot/';
  const root = createServedRoot(opts.root, { linkedFiles: opts.linkedFiles ?? [] });
  installBootFileErrors(app, prefix);
  app.get(
    `${prefix}*`,
    {
      config: { access: 'public' },
      schema: {
        tags: ['boot'],
        summary: `boot file under ${prefix} (no credential; Range requests work)`,
        params: WildcardParams,
      },
    },
    async (req, reply) => {
      const rel = req.params['*'];
      if (opts.beforeSend) await opts.beforeSend(rel);
      return sendBootFile(req, reply, root, rel, {
        cache: opts.cache,
        cacheControl: false,
        sendOptions,
        where: prefix,
      });
    },
  );
};

/**
 * Sends one boot file: a plain GET of a cacheable file from memory
 * (boot-file-cache.ts), everything else through @fastify/static's
 * `reply.sendFile` (HEAD, Range, conditional requests, errors, odd paths),
 * which stays the one implementation of RFC 9110 ranges and preconditions.
 * Both paths give the same headers: Accept-Ranges, ETag and Last-Modified in
 * @fastify/send's format, Content-Type by file name.
 */
import { stat } from 'node:fs/promises';
import { join } from 'node:path';
import type { FastifyReply, FastifyRequest } from 'fastify';
import mime from 'mime';
import type { BootFileCache } from './boot-file-cache.js';

/** How a route sends its files. `cacheControl`: send `Cache-Control: public, max-age=0` as @fastify/static's default does. */
export interface SendBootFileOptions {
  cache?: BootFileCache | undefined;
  cacheControl: boolean;
  /** Passed to `reply.sendFile` (e.g. the stream's highWaterMark). */
  sendOptions?: Parameters<FastifyReply['sendFile']>[2];
}

/** Headers after which the library must decide (RFC 9110 §13 preconditions, §14 ranges). */
const LIBRARY_HEADERS = ['range', 'if-range', 'if-match', 'if-none-match', 'if-modified-since', 'if-unmodified-since'] as const;

/**
 * A path the fast path may open as is: no `%` (@fastify/send decodes the
 * already decoded parameter once more, so such a name would open another
 * file there), no NUL or backslash, no empty, `.`, `..` or dot-file segment.
 */
export function isPlainRelativePath(rel: string): boolean {
  if (rel === '' || /[%\0\\]/.test(rel)) return false;
  return rel.split('/').every((seg) => seg !== '' && !seg.startsWith('.'));
}

/** Content-Type as @fastify/send gives it: by extension, UTF-8 text types with a charset. */
export function contentTypeOf(rel: string): string {
  const type = mime.getType(rel) ?? 'application/octet-stream';
  return /^(text\/|application\/json|application\/javascript)./.test(type) ? `${type}; charset=utf-8` : type;
}

/** Answers `req` with the file `rel` under the absolute directory `root`. */
export async function sendBootFile(req: FastifyRequest, reply: FastifyReply, root: string, rel: string, opts: SendBootFileOptions): Promise<FastifyReply> {
  const { cache } = opts;
  if (cache && cache.maxBytes > 0 && req.method === 'GET' && isPlainRelativePath(rel) && !LIBRARY_HEADERS.some((h) => req.headers[h] !== undefined)) {
    const abs = join(root, rel);
    const st = await stat(abs).catch(() => null);
    const bytes = st ? await cache.get(abs, st).catch(() => null) : null;
    if (st && bytes) {
      reply.header('accept-ranges', 'bytes');
      if (opts.cacheControl) reply.header('cache-control', 'public, max-age=0');
      reply.header('last-modified', st.mtime.toUTCString());
      reply.header('etag', `W/"${st.size.toString(16)}-${st.mtime.getTime().toString(16)}"`);
      reply.header('content-type', contentTypeOf(rel));
      // One write of the shared buffer: the kernel takes what fits and libuv keeps a reference to the rest.
      return reply.send(bytes);
    }
  }
  return reply.sendFile(rel, root, opts.sendOptions);
}

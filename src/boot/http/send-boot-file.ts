/**
 * Sends one boot file: a plain GET of a cacheable file from memory
 * (boot-file-cache.ts), everything else through @fastify/static's
 * `reply.sendFile` (HEAD, Range, conditional requests), which stays the one
 * implementation of RFC 9110 ranges and preconditions. Both paths give the
 * same headers: Accept-Ranges, ETag and Last-Modified in @fastify/send's
 * format, Content-Type by file name.
 *
 * Every name goes through the served-path rule first (served-path.ts, the
 * same one TFTP uses): only a regular file whose real path stays inside the
 * root (or a named boot file) reaches the library, by its real path. Every
 * refusal and every library error is a 4xx with Kiln's error body, logged at
 * debug (`installBootFileErrors`).
 */
import type { FastifyError, FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import mime from 'mime';
import { sendError } from '../../api/error-reply.js';
import { KilnError } from '../../error/kiln-error.js';
import type { ServedRoot } from '../served-path.js';
import type { BootFileCache } from './boot-file-cache.js';

/** How a route sends its files. `cacheControl`: send `Cache-Control: public, max-age=0` as @fastify/static's default does. */
export interface SendBootFileOptions {
  cache?: BootFileCache | undefined;
  cacheControl: boolean;
  /** Passed to `reply.sendFile` (e.g. the stream's highWaterMark). */
  sendOptions?: Parameters<FastifyReply['sendFile']>[2];
  /** How the route is named in messages, e.g. `/ipxe/`. */
  where: string;
}

/** Headers after which the library must decide (RFC 9110 §13 preconditions, §14 ranges). */
const LIBRARY_HEADERS = [
  'range',
  'if-range',
  'if-match',
  'if-none-match',
  'if-modified-since',
  'if-unmodified-since',
] as const;

/** Content-Type as @fastify/send gives it: by extension, UTF-8 text types with a charset. */
export function contentTypeOf(rel: string): string {
  const type = mime.getType(rel) ?? 'application/octet-stream';
  return /^(text\/|application\/json|application\/javascript)./.test(type) ? `${type}; charset=utf-8` : type;
}

/** The 404 every refused or missing name gets; the reason goes to the debug log only. */
export function noBootFile(req: FastifyRequest, where: string, name: string, reason: string): KilnError {
  const shown = JSON.stringify(name.length > 120 ? `${name.slice(0, 120)}…` : name);
  req.log.debug({ where, name: name.slice(0, 1024), reason }, 'boot file refused');
  return new KilnError(
    'not_found',
    `no file ${shown} under ${where} (only regular files inside the served directory, no dotfiles, no links out of it)`,
  );
}

/** Answers `req` with the file `name` of the served root `root`, or throws a `not_found` KilnError. */
export async function sendBootFile(
  req: FastifyRequest,
  reply: FastifyReply,
  root: ServedRoot,
  name: string,
  opts: SendBootFileOptions,
): Promise<FastifyReply> {
  const found = await root.resolve(name);
  if (!found.ok) throw noBootFile(req, opts.where, name, found.reason);
  const { cache } = opts;
  if (
    cache &&
    cache.maxBytes > 0 &&
    req.method === 'GET' &&
    !LIBRARY_HEADERS.some((h) => req.headers[h] !== undefined)
  ) {
    const st = found.stat;
    const bytes = await cache.get(found.real, st).catch(() => null);
    if (bytes) {
      reply.header('accept-ranges', 'bytes');
      if (opts.cacheControl) reply.header('cache-control', 'public, max-age=0');
      reply.header('last-modified', st.mtime.toUTCString());
      reply.header('etag', `W/"${st.size.toString(16)}-${st.mtime.getTime().toString(16)}"`);
      reply.header('content-type', contentTypeOf(found.rel));
      // One write of the shared buffer: the kernel takes what fits and libuv keeps a reference to the rest.
      return reply.send(bytes);
    }
  }
  return reply.sendFile(found.rel, found.dir, opts.sendOptions);
}

/**
 * Error handler of a boot-file plugin (encapsulated: only its routes). The
 * library answers a bad range or a failed precondition by throwing an HTTP
 * error; those become Kiln codes (416 keeps its Content-Range). Anything else
 * the library refuses is a 404. All are logged at debug: probes of the boot
 * network are not errors of the controller. A 5xx stays `internal`.
 */
export function installBootFileErrors(app: FastifyInstance, where: string): void {
  app.setErrorHandler((err: FastifyError & { status?: number; headers?: Record<string, string> }, req, reply) => {
    if (err instanceof KilnError) return sendError(req, reply, err, 'debug');
    const status = err.statusCode ?? err.status ?? 500;
    if (status >= 500) return sendError(req, reply, err);
    if (status === 416) {
      const range = err.headers?.['Content-Range'] ?? err.headers?.['content-range'];
      if (range) reply.header('content-range', range);
      return sendError(
        req,
        reply,
        new KilnError(
          'range_not_satisfiable',
          'the Range header asks for bytes outside the file; see Content-Range for its length',
        ),
        'debug',
      );
    }
    if (status === 412)
      return sendError(
        req,
        reply,
        new KilnError(
          'precondition_failed',
          'the file changed since the ETag or date you sent (If-Match / If-Unmodified-Since); fetch it again',
        ),
        'debug',
      );
    return sendError(
      req,
      reply,
      noBootFile(req, where, req.url, `library answered ${status}: ${err.message}`),
      'debug',
    );
  });
}

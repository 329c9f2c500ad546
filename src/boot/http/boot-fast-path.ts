/**
 * The iPXE scripts answered ahead of Fastify (issue 17: a boot storm fetches
 * the per-host script thousands of times a second, and Fastify's routing,
 * hooks and reply cost more than the script itself). Only requests whose
 * Fastify answer is known to be the same are taken: GET `/boot.ipxe` without
 * a query, and GET `/boot/host.ipxe` whose query holds only mac, uuid, arch
 * and platform, each at most once, within their lengths, in characters
 * iPXE's URLs use, with no body. Everything else (HEAD, other fields,
 * `+`, broken escapes, a body, a closing server, debug logging) falls
 * through to the Fastify routes in boot-routes.ts. Both paths call the same
 * boot service, and answer with the same status, headers and body, the
 * same metrics and the same timeline exchange (boot-fast-path.test.ts
 * compares them request by request).
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { HttpExchange } from '../../api/build-app.js';
import { errorBody, errorLogLevel, retryAfterOf, toKilnError } from '../../api/error-reply.js';
import { silentLogger, type Logger } from '../../log/logger.js';
import type { BootService, HostScriptQuery } from './boot-service.js';
import { HOST_SCRIPT_QUERY_MAX, IPXE_CONTENT_TYPE } from './boot-routes.js';

/** Answers `req` and returns true, or returns false having touched nothing (Fastify answers it). */
export type FastPath = (req: IncomingMessage, res: ServerResponse) => boolean;

export interface BootFastPathDeps {
  boot: Pick<BootService, 'hostScript' | 'chainScript'>;
  /** The app's metrics callback (AppDeps.onResponse), with the route pattern Fastify would report. */
  onResponse?: (method: string, route: string, status: number, seconds: number) => void;
  /** The app's exchange callback (AppDeps.onExchange): the boot timeline. */
  onExchange?: (x: HttpExchange) => void;
  /** The app's in-flight counter (AppDeps.inFlight): +1 when a request is taken, -1 when its response closes. */
  inFlight?: (delta: 1 | -1) => void;
  /** Error answers at warn and error (the script routes' level at log level info: client errors are not logged). */
  log?: Logger;
}

const HOST_SCRIPT = '/boot/host.ipxe';
const CHAIN_SCRIPT = '/boot.ipxe';
const JSON_TYPE = 'application/json; charset=utf-8';
/** Characters a query value may hold here: iPXE's settings (MAC, UUID, buildarch, platform) and percent escapes. */
const PLAIN = /^[A-Za-z0-9:._~%-]*$/;
const FIELDS = new Set(Object.keys(HOST_SCRIPT_QUERY_MAX));

/**
 * The query as Fastify's parser and schema would give it, or null when this
 * path cannot be sure (Fastify decides). A value is percent-decoded as
 * fast-querystring does; a length within the limit in UTF-16 units is within
 * it in code points (Ajv's measure), and a longer one goes to Fastify.
 */
export function parseScriptQuery(query: string): HostScriptQuery | null {
  const q: Record<string, string> = {};
  if (query === '') return q;
  for (const part of query.split('&')) {
    const eq = part.indexOf('=');
    if (eq <= 0) return null;
    const key = part.slice(0, eq);
    let value = part.slice(eq + 1);
    if (!FIELDS.has(key) || key in q || !PLAIN.test(value)) return null;
    if (value.includes('%')) {
      try {
        value = decodeURIComponent(value);
      } catch {
        return null;
      }
    }
    if (value.length > HOST_SCRIPT_QUERY_MAX[key as keyof typeof HOST_SCRIPT_QUERY_MAX]) return null;
    q[key] = value;
  }
  return q;
}

/** The fast path over the boot service; install it with `AppDeps.fastPath`. */
export function createBootFastPath(deps: BootFastPathDeps): FastPath {
  const log = deps.log ?? silentLogger;

  function finish(req: IncomingMessage, route: string, status: number, bytes: number, started: number): void {
    const seconds = (performance.now() - started) / 1000;
    deps.onResponse?.('GET', route, status, seconds);
    if (!deps.onExchange) return;
    const url = req.url!;
    const [path, query = ''] = url.split('?', 2);
    const session = req.headers['x-kiln-session'];
    deps.onExchange({
      method: 'GET',
      route,
      path,
      query,
      status,
      bytes,
      seconds,
      ip: req.socket.remoteAddress!,
      nodeHostId: null,
      session: typeof session === 'string' ? session : undefined,
      body: undefined,
    });
  }

  /** Writes the answer; returns its content-length. */
  function send(res: ServerResponse, status: number, type: string, body: string, retryAfter: string | null): number {
    const bytes = Buffer.byteLength(body);
    const headers: Record<string, string> = { 'content-type': type, 'content-length': String(bytes) };
    if (retryAfter !== null) headers['retry-after'] = retryAfter;
    res.writeHead(status, headers);
    res.end(body);
    return bytes;
  }

  async function answerHostScript(req: IncomingMessage, res: ServerResponse, q: HostScriptQuery, started: number) {
    let answer: { status: number; type: string; body: string; retryAfter: string | null };
    try {
      const script = await deps.boot.hostScript(q, req.socket.remoteAddress!);
      answer = { status: 200, type: IPXE_CONTENT_TYPE, body: script, retryAfter: null };
    } catch (err) {
      const k = toKilnError(err);
      const level = errorLogLevel(k);
      if (level === 'warn' || level === 'error')
        log[level](
          { errorId: k.id, code: k.code, err: k.code === 'internal' ? err : undefined, msg: k.message },
          'request failed',
        );
      answer = {
        status: k.httpStatus,
        type: JSON_TYPE,
        body: JSON.stringify(errorBody(k)),
        retryAfter: retryAfterOf(k),
      };
    }
    const bytes = send(res, answer.status, answer.type, answer.body, answer.retryAfter);
    finish(req, HOST_SCRIPT, answer.status, bytes, started);
  }

  return (req, res) => {
    if (req.method !== 'GET') return false;
    const url = req.url ?? '';
    // A body (Fastify's to read or refuse) goes to Fastify.
    if (req.headers['transfer-encoding'] !== undefined) return false;
    const length = req.headers['content-length'];
    if (length !== undefined && length !== '0') return false;
    const started = performance.now();
    const take = () => {
      const count = deps.inFlight;
      if (!count) return;
      count(1);
      res.once('close', () => count(-1));
    };
    if (url === CHAIN_SCRIPT) {
      take();
      finish(req, CHAIN_SCRIPT, 200, send(res, 200, IPXE_CONTENT_TYPE, deps.boot.chainScript(), null), started);
      return true;
    }
    if (!url.startsWith(HOST_SCRIPT)) return false;
    const rest = url.slice(HOST_SCRIPT.length);
    if (rest !== '' && rest[0] !== '?') return false;
    const q = parseScriptQuery(rest.slice(1));
    if (!q) return false;
    take();
    // Nothing here throws but a broken socket or callback: logged, like Fastify's own last-resort handler.
    answerHostScript(req, res, q, started).catch((err: unknown) =>
      log.error({ err, url }, 'per-host script: answering failed'),
    );
    return true;
  };
}

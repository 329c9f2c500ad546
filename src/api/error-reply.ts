import { STATUS_CODES } from 'node:http';
import type { Duplex } from 'node:stream';
import type { FastifyError, FastifyReply, FastifyRequest } from 'fastify';
import { KilnError, type ErrorIssue } from '../error/kiln-error.js';

interface AjvIssue {
  instancePath?: string;
  keyword?: string;
  message?: string;
  params?: Record<string, unknown>;
  propertyName?: string;
}

function ajvIssues(context: string | undefined, list: AjvIssue[]): ErrorIssue[] {
  return list
    .map((v) => {
      const base = `${context ?? 'body'}${v.instancePath ?? ''}`;
      if (v.keyword === 'additionalProperties') {
        const field = String(v.params?.['additionalProperty']);
        return {
          path: `${base}/${field}`,
          code: 'unknown_field',
          message: `unknown field "${field}"; remove it (see /api/v1/openapi.json)`,
        };
      }
      if (v.keyword === 'required') {
        const field = String(v.params?.['missingProperty']);
        return { path: `${base}/${field}`, code: 'required', message: `missing required field "${field}"` };
      }
      if (v.keyword === 'propertyNames') return null; // the failing key's own error (below) says why
      if (v.propertyName !== undefined) {
        return {
          path: `${base}/${v.propertyName}`,
          code: 'bad_key',
          message: `key "${v.propertyName.slice(0, 80)}" ${v.message ?? 'is not allowed'}`,
        };
      }
      return { path: base, code: v.keyword ?? 'invalid', message: v.message ?? 'invalid value' };
    })
    .filter((i): i is ErrorIssue => i !== null);
}

/** Turns any thrown error into a KilnError; unknown errors become `internal`. */
export function toKilnError(err: unknown): KilnError {
  if (err instanceof KilnError) return err;
  const e = err as FastifyError & { validation?: AjvIssue[]; validationContext?: string };
  if (e?.validation) {
    const issues = ajvIssues(e.validationContext, e.validation);
    return new KilnError('validation_failed', issues.map((i) => `${i.path}: ${i.message}`).join('; '), { issues });
  }
  if (e?.code === 'FST_ERR_BAD_URL')
    return new KilnError('bad_url', 'the request path is not a valid URL (broken percent-encoding); fix the path');
  if (e?.code === 'FST_ERR_MAX_PARAM_LENGTH')
    return new KilnError('uri_too_long', `a path segment is longer than ${MAX_PARAM_LENGTH} characters; check the URL`);
  if (e?.statusCode === 413)
    return new KilnError('payload_too_large', 'the request body is larger than the limit (setting body-limit)');
  if (e?.statusCode === 415)
    return new KilnError(
      'unsupported_media_type',
      `unsupported content type; send JSON with "Content-Type: application/json"`,
    );
  if (e?.statusCode === 429) return new KilnError('rate_limited', e.message);
  if (e?.statusCode === 400) return new KilnError('bad_request', `malformed request: ${e.message}`);
  return new KilnError('internal', 'internal error; the id matches a line in the controller log', { cause: err });
}

/** The longest path parameter the router matches (a host name is at most 253); longer gets `uri_too_long`. */
export const MAX_PARAM_LENGTH = 500;

/** The documented error body: `{ error: { code, message, id, issues?, details? } }`. */
export function errorBody(k: KilnError): { error: Record<string, unknown> } {
  return {
    error: {
      code: k.code,
      message: k.message,
      id: k.id,
      ...(k.issues.length ? { issues: k.issues } : {}),
      ...(k.details ? { details: k.details } : {}),
    },
  };
}

/**
 * Sends the documented error body for any thrown error, and logs it with the same id.
 * `quiet`: log a client error at debug (boot-file probes); `internal` stays at error.
 */
export function sendError(request: FastifyRequest, reply: FastifyReply, err: unknown, quiet?: 'debug'): FastifyReply {
  const k = toKilnError(err);
  const level = errorLogLevel(k, quiet);
  request.log[level](
    { errorId: k.id, code: k.code, err: k.code === 'internal' ? err : undefined, msg: k.message },
    'request failed',
  );
  const retryAfter = retryAfterOf(k);
  if (retryAfter !== null && !reply.getHeader('retry-after')) reply.header('retry-after', retryAfter);
  return reply.status(k.httpStatus).type('application/json').send(errorBody(k));
}

/** The `retry-after` header an error answer carries (seconds, as text), or null for none. */
export function retryAfterOf(k: KilnError): string | null {
  if (k.code !== 'rate_limited') return null;
  // RFC 9110 §10.2.3: the wait the error itself computed (details.retryAfter, seconds), else a minute.
  const wait = Number((k.details as { retryAfter?: unknown } | undefined)?.retryAfter);
  return String(Number.isInteger(wait) && wait > 0 ? wait : 60);
}

/** The log level of an error answer: `internal` at error, other 5xx at warn, client errors at `quiet` or info. */
export function errorLogLevel(k: KilnError, quiet?: 'debug'): 'error' | 'warn' | 'info' | 'debug' {
  return k.code === 'internal' ? 'error' : k.httpStatus >= 500 ? 'warn' : (quiet ?? 'info');
}

/**
 * Answers errors Node's HTTP parser raises before any route runs (Fastify's
 * `clientErrorHandler`): the same body as every other error, a debug log line
 * with the parser's code, then the connection is closed.
 */
export function answerClientError(
  log: { debug(o: object, msg: string): void },
  err: NodeJS.ErrnoException,
  socket: Duplex,
): void {
  if (err.code === 'ECONNRESET' || socket.destroyed) {
    log.debug({ errno: err.code }, 'client connection reset before a request was read');
    return;
  }
  const k =
    err.code === 'HPE_HEADER_OVERFLOW'
      ? new KilnError(
          'headers_too_large',
          'the request line and headers exceed 16 KiB; send a shorter URL or fewer headers',
        )
      : err.code === 'ERR_HTTP_REQUEST_TIMEOUT'
        ? new KilnError('request_timeout', 'the request was not sent in time; retry')
        : new KilnError(
            'bad_request',
            `malformed HTTP request (${String(err.code ?? 'parse error')}); send a valid HTTP/1.1 request`,
          );
  log.debug({ errorId: k.id, code: k.code, errno: err.code }, 'client error');
  const body = JSON.stringify(errorBody(k));
  if (socket.writable) {
    socket.write(
      `HTTP/1.1 ${k.httpStatus} ${STATUS_CODES[k.httpStatus]}\r\nContent-Type: application/json\r\nContent-Length: ${Buffer.byteLength(body)}\r\nConnection: close\r\n\r\n${body}`,
    );
  }
  socket.destroy();
}

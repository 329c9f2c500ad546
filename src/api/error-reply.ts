import type { FastifyError, FastifyReply, FastifyRequest } from 'fastify';
import { KilnError, type ErrorIssue } from '../error/kiln-error.js';

interface AjvIssue { instancePath?: string; keyword?: string; message?: string; params?: Record<string, unknown> }

function ajvIssues(context: string | undefined, list: AjvIssue[]): ErrorIssue[] {
  return list.map((v) => {
    const base = `${context ?? 'body'}${v.instancePath ?? ''}`;
    if (v.keyword === 'additionalProperties') {
      const field = String(v.params?.['additionalProperty']);
      return { path: `${base}/${field}`, code: 'unknown_field', message: `unknown field "${field}"; remove it (see /api/v1/openapi.json)` };
    }
    if (v.keyword === 'required') {
      const field = String(v.params?.['missingProperty']);
      return { path: `${base}/${field}`, code: 'required', message: `missing required field "${field}"` };
    }
    return { path: base, code: v.keyword ?? 'invalid', message: v.message ?? 'invalid value' };
  });
}

/** Turns any thrown error into a KilnError; unknown errors become `internal`. */
export function toKilnError(err: unknown): KilnError {
  if (err instanceof KilnError) return err;
  const e = err as FastifyError & { validation?: AjvIssue[]; validationContext?: string };
  if (e?.validation) {
    const issues = ajvIssues(e.validationContext, e.validation);
    return new KilnError('validation_failed', issues.map((i) => `${i.path}: ${i.message}`).join('; '), { issues });
  }
  if (e?.statusCode === 413) return new KilnError('payload_too_large', 'the request body is larger than the limit (setting body-limit)');
  if (e?.statusCode === 415) return new KilnError('bad_request', `unsupported content type; send JSON with "Content-Type: application/json"`);
  if (e?.statusCode === 429) return new KilnError('rate_limited', e.message);
  if (e?.statusCode === 400) return new KilnError('bad_request', `malformed request: ${e.message}`);
  return new KilnError('internal', 'internal error; the id matches a line in the controller log', { cause: err });
}

/**
 * The documented error body: `{ error: { code, message, id, issues? } }`.
 * `quiet`: log a client error at debug (boot-file probes); `internal` stays at error.
 */
export function sendError(request: FastifyRequest, reply: FastifyReply, err: unknown, quiet?: 'debug'): FastifyReply {
  const k = toKilnError(err);
  const level = k.code === 'internal' ? 'error' : k.httpStatus >= 500 ? 'warn' : quiet ?? 'info';
  request.log[level]({ errorId: k.id, code: k.code, err: k.code === 'internal' ? err : undefined, msg: k.message }, 'request failed');
  if (k.code === 'rate_limited' && !reply.getHeader('retry-after')) reply.header('retry-after', '60');
  return reply.status(k.httpStatus).type('application/json').send({
    error: { code: k.code, message: k.message, id: k.id, ...(k.issues.length ? { issues: k.issues } : {}), ...(k.details ? { details: k.details } : {}) },
  });
}

import type { FastifyInstance } from 'fastify';
import { KilnError } from '../error/kiln-error.js';

/** Deepest nesting of arrays and objects a request body may have (the deepest real body, a discovery report, is 4). */
export const MAX_BODY_DEPTH = 32;

/**
 * The nesting depth of a JSON text, scanned without parsing (strings and
 * their escapes are skipped), stopping at the first level past `limit`.
 * Returns the offset where the limit was passed, or -1 when it never is.
 */
export function depthExceededAt(text: string, limit: number): number {
  let depth = 0;
  let inString = false;
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    if (inString) {
      if (c === 0x5c)
        i++; // backslash: skip the escaped character
      else if (c === 0x22) inString = false;
    } else if (c === 0x22) inString = true;
    else if (c === 0x5b || c === 0x7b) {
      if (++depth > limit) return i;
    } // [ {
    else if (c === 0x5d || c === 0x7d) depth--; // ] }
  }
  return -1;
}

/**
 * Replaces Fastify's JSON body parser with one that refuses a body nested
 * deeper than `maxDepth` before `JSON.parse` sees it: JSON Schema has no
 * depth keyword, and a deep value overflows the stack of every recursive
 * reader after validation (JSON.stringify, hashing, the event store). The
 * parse itself stays Fastify's (prototype-poisoning checks included).
 */
export function installJsonBodyParser(app: FastifyInstance, maxDepth = MAX_BODY_DEPTH): void {
  const parse = app.getDefaultJsonParser('error', 'error');
  app.removeContentTypeParser('application/json');
  app.addContentTypeParser('application/json', { parseAs: 'string' }, (req, body, done) => {
    const text = body as string;
    const at = depthExceededAt(text, maxDepth);
    if (at >= 0) {
      done(
        new KilnError(
          'bad_request',
          `the JSON body is nested deeper than ${maxDepth} levels (at byte ${at}); no Kiln request needs more`,
          { issues: [{ path: 'body', code: 'too_deep', message: `nested deeper than ${maxDepth} levels` }] },
        ),
        undefined,
      );
      return;
    }
    // Fastify's default JSON parser answers through `done` (its type also allows a promise; this one returns none).
    void parse(req, text, done);
  });
}

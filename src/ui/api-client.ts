import type { FastifyInstance } from 'fastify';

/** One API answer: status and the parsed JSON body (the text when it is not JSON). */
export interface ApiAnswer {
  status: number;
  body: unknown;
  text: string;
}

/** Calls one API route as the logged-in user. */
export type ApiCall = (method: 'GET' | 'POST' | 'PUT' | 'DELETE', url: string, body?: unknown) => Promise<ApiAnswer>;

/**
 * Every page reads, and every action is, a call of the HTTP API under the
 * user's own session token (in process, through Fastify's inject): the UI
 * has no authorization of its own to get wrong, and sees exactly what the
 * user's role may see or do.
 */
export function apiAs(app: FastifyInstance, secret: string, remoteAddress: string): ApiCall {
  return async (method, url, body) => {
    const res = await app.inject({
      method,
      url,
      remoteAddress,
      headers: { authorization: `Bearer ${secret}`, accept: 'application/json' },
      ...(body !== undefined ? { payload: body as object } : {}),
    });
    let parsed: unknown = null;
    if (/json/.test(String(res.headers['content-type'] ?? ''))) {
      try {
        parsed = JSON.parse(res.body);
      } catch {
        parsed = null;
      }
    }
    return { status: res.statusCode, body: parsed, text: res.body };
  };
}

/** The message of an API error body, or the status. */
export function apiErrorText(a: ApiAnswer): string {
  const e = (a.body as { error?: { code?: string; message?: string } } | null)?.error;
  return e ? `${e.code ?? 'error'}: ${e.message ?? ''}` : `HTTP ${a.status}`;
}

import { Type } from '@sinclair/typebox';
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { roleAllows, type Role } from '../api/role.js';
import { readCookie, sessionCookieName } from '../api/session-cookie.js';
import { errorCodes, type ErrorCode } from '../error/codes.js';
import { KilnError } from '../error/kiln-error.js';
import { apiAs, apiErrorText, type ApiAnswer, type ApiCall } from './api-client.js';
import { html, type Html } from './html.js';
import { notice, page, type Viewer } from './layout.js';
import { csrfToken } from './session.js';
import type { UnreachableView } from './api-types.js';

/** Every UI route: a viewer's, taking the session cookie (or a bearer token, like the API). */
export const uiRoute = { access: 'viewer', session: true } as const;

/** A form body: flat text fields, bounded. */
export const FormBody = Type.Record(Type.String({ maxLength: 64 }), Type.String({ maxLength: 4096 }), {
  maxProperties: 32,
});

/** What the UI needs besides the API it calls: the login service, its rate limiter, and the fleet counts. */
export interface UiDeps {
  login(
    input: { name: string; password: string },
    source: string,
  ): Promise<{ token: string; expiresAt: string; user: { name: string; role: Role } }>;
  limiter: { retryAfter(source: string): Promise<number>; fail(source: string): Promise<void> };
  countHostsByState(): Promise<Record<string, number>>;
  /** Hosts whose heartbeat stopped, most recently heard first (the heartbeat service's memory). */
  unreachableHosts(limit: number): UnreachableView[];
  states: readonly string[];
  now?: () => Date;
}

/** One UI request's user: how to call the API as them, and who they are on the page. */
export interface UiUser {
  api: ApiCall;
  viewer: Viewer;
}

/**
 * The API roles each UI action needs: the same as the API routes it calls
 * (ui-routes.test checks this table against the route table), used only to
 * leave out buttons a role cannot use; the API call decides.
 */
export const actionRoles = {
  deploy: 'operator',
  release: 'operator',
  power: 'operator',
  preview: 'operator',
} as const satisfies Record<string, Role>;

/** The credential of a request that passed the auth hook: the Authorization header's bearer, else the session cookie. */
export function secretOf(req: FastifyRequest): string {
  const h = /^Bearer\s+(\S+)$/i.exec(req.headers.authorization ?? '')?.[1];
  const s = h ?? readCookie(req.headers.cookie, sessionCookieName);
  if (!s) throw new KilnError('unauthenticated', 'log in at /ui/login');
  return s;
}

/** The user of a request on a UI route (the auth hook has checked the credential and set the principal). */
export function uiUser(app: FastifyInstance, req: FastifyRequest): UiUser {
  const p = req.principal;
  if (!p || p.kind === 'node') throw new KilnError('unauthenticated', 'log in at /ui/login');
  const secret = secretOf(req);
  return { api: apiAs(app, secret, req.ip), viewer: { name: p.name, role: p.role, csrf: csrfToken(secret) } };
}

/** True when the viewer's role may use `action`. */
export function may(v: Viewer, action: keyof typeof actionRoles): boolean {
  return roleAllows(v.role, actionRoles[action]);
}

/** The JSON body of an answer, or throws the API's error again (same code, so the same status). */
export function ok<T>(a: ApiAnswer): T {
  if (a.status >= 200 && a.status < 300) return a.body as T;
  const e = (a.body as { error?: { code?: string; message?: string } } | null)?.error;
  const code = e?.code && e.code in errorCodes ? (e.code as ErrorCode) : 'internal';
  throw new KilnError(code, e?.message ?? `the API answered ${a.status}`);
}

/** The body of an answer when it succeeded, else `fallback` (a page part that may be missing). */
export function orElse<T>(a: ApiAnswer, fallback: T): T {
  return a.status >= 200 && a.status < 300 ? (a.body as T) : fallback;
}

/** Sends a whole HTML page. */
export function sendPage(
  reply: FastifyReply,
  o: { title: string; viewer: Viewer | null; current?: string; body: Html; status?: number },
): FastifyReply {
  return reply
    .status(o.status ?? 200)
    .type('text/html; charset=utf-8')
    .send(page(o).text);
}

/** Sends an HTML fragment (what the page script swaps in). */
export function sendFragment(reply: FastifyReply, body: Html): FastifyReply {
  return reply.type('text/html; charset=utf-8').send(body.text);
}

/** An error page for a refused or failed action, with the API's status and message. */
export function sendRefusal(reply: FastifyReply, viewer: Viewer | null, a: ApiAnswer, back: string): FastifyReply {
  return sendPage(reply, {
    title: 'Not done',
    viewer,
    status: a.status,
    body: html`${notice('error', apiErrorText(a))}
      <p><a href="${back}">Back</a></p>`,
  });
}

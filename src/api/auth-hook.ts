import type { FastifyInstance, FastifyRequest } from 'fastify';
import { KilnError } from '../error/kiln-error.js';
import { roleAllows, type Access, type Principal } from './role.js';
import { readCookie, sessionCookieName } from './session-cookie.js';

declare module 'fastify' {
  interface FastifyContextConfig {
    /** Required on every route: who may call it. A route without it fails at start-up. */
    access?: Access;
    /**
     * The route also takes the web UI's session cookie when no Authorization
     * header is sent (the UI's routes); such a request is marked `viaCookie`
     * and the route must check its CSRF token on every state change.
     */
    session?: boolean;
  }
  interface FastifyRequest {
    principal?: Principal;
    /** The credential came from the session cookie, not a header (set only on `session` routes). */
    viaCookie?: boolean;
    /** The `controllers` id of the member that signed a `member` route's request. */
    memberId?: string;
  }
}

/** One registered route and what it requires; the auth test walks this list. */
export interface RouteEntry {
  method: string;
  url: string;
  access: Access;
}

/** Resolves a bearer credential to a principal; `kind` says which header form was used. */
export interface Authenticators {
  token(bearer: string): Promise<Principal>;
  /** Node credentials (prefix kn_); absent until node trust is wired, in which case node routes refuse everything. */
  node?(bearer: string, request: FastifyRequest): Promise<Principal>;
  /**
   * Checks the member credential (the whole Authorization header) of a
   * request that came over TLS; returns the signing member's id. Absent: member
   * routes refuse everything.
   */
  member?(header: string | undefined, request: FastifyRequest): string;
}

function bearerOf(request: FastifyRequest): string | null {
  const h = request.headers.authorization;
  if (!h) return null;
  const m = /^Bearer\s+(\S+)$/i.exec(h);
  return m ? m[1] : null;
}

/**
 * Enforces `config.access` on every route: refuses to register a route that
 * does not declare it, and checks the credential before the handler runs.
 */
export function installAuth(app: FastifyInstance, auth: Authenticators, routes: RouteEntry[]): void {
  app.addHook('onRoute', (opts) => {
    const access = opts.config?.access;
    if (!access)
      throw new Error(
        `route ${String(opts.method)} ${opts.url} declares no config.access; every route must say who may call it`,
      );
    const methods = Array.isArray(opts.method) ? opts.method : [opts.method];
    for (const m of methods) if (m !== 'HEAD') routes.push({ method: m, url: opts.url, access });
  });
  app.addHook('onRequest', async (request) => {
    const access = request.routeOptions.config?.access;
    if (!access || access === 'public') return;
    if (access === 'member') {
      if (!auth.member) throw new KilnError('credential_invalid', 'member routes are not enabled on this controller');
      // Only inside TLS: a signed request read off plain HTTP could be replayed within its window.
      if (request.protocol !== 'https')
        throw new KilnError('credential_invalid', 'member calls are accepted over HTTPS only');
      request.memberId = auth.member(request.headers.authorization, request);
      return;
    }
    let bearer = bearerOf(request);
    if (!bearer && access !== 'node' && request.routeOptions.config?.session) {
      bearer = readCookie(request.headers.cookie, sessionCookieName);
      request.viaCookie = bearer !== null;
    }
    if (access === 'node') {
      if (!bearer)
        throw new KilnError('credential_invalid', 'this node call needs "Authorization: Bearer <node credential>"');
      if (!auth.node) throw new KilnError('credential_invalid', 'node credentials are not enabled on this controller');
      request.principal = await auth.node(bearer, request);
      return;
    }
    if (!bearer)
      throw new KilnError(
        'unauthenticated',
        'send "Authorization: Bearer <token>"; create a token with `kiln token create`',
      );
    const p = await auth.token(bearer);
    request.principal = p;
    if (p.kind === 'node' || !roleAllows(p.role, access)) {
      throw new KilnError(
        'forbidden',
        `this call needs the ${access} role; your credential ${p.kind === 'node' ? 'is a node credential' : `has role ${p.role}`}`,
      );
    }
  });
}

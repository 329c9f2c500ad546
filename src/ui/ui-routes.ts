import { readFileSync } from 'node:fs';
import type { FastifyRequest } from 'fastify';
import { Type } from '@sinclair/typebox';
import type { FastifyPluginAsyncTypebox } from '../api/type-provider.js';
import { sendError, toKilnError } from '../api/error-reply.js';
import { hasCode, KilnError } from '../error/kiln-error.js';
import { packagePath } from '../runtime/package-path.js';
import { html } from './html.js';
import { notice } from './layout.js';
import { loginBody } from './login-page.js';
import { csrfMatches, safeNext, sessionCookie } from './session.js';
import { FormBody, secretOf, sendPage, uiUser, type UiDeps } from './ui-request.js';
import { readPageRoutes } from './page-routes.js';
import { hostPageRoutes } from './host-routes.js';
import { actionRoutes } from './action-routes.js';

/** Strict: only this origin's script and style, no inline code, no framing, forms only to this origin. */
export const contentSecurityPolicy =
  "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; " +
  "form-action 'self'; frame-ancestors 'none'; base-uri 'none'";

const staticTypes: Record<string, string> = {
  'app.js': 'text/javascript; charset=utf-8',
  'app.css': 'text/css; charset=utf-8',
};
const isSafe = (m: string) => m === 'GET' || m === 'HEAD';
const wantsHtml = (req: FastifyRequest) => /text\/html/.test(req.headers.accept ?? '');
/**
 * The web UI: server-rendered pages at / and /ui/… that read and act only
 * through the HTTP API under the logged-in user's session (api-client.ts).
 * Pages take the session cookie (`config.session`); every state-changing
 * request from the cookie needs the page's CSRF token.
 */
export const uiRoutes: FastifyPluginAsyncTypebox<UiDeps> = async (app, deps) => {
  const assets = Object.fromEntries(
    Object.keys(staticTypes).map((f) => [f, readFileSync(packagePath(`src/ui/static/${f}`), 'utf8')]),
  );
  app.addContentTypeParser(
    'application/x-www-form-urlencoded',
    { parseAs: 'string', bodyLimit: 65_536 },
    (_req, body, done) => done(null, Object.fromEntries(new URLSearchParams(body as string))),
  );
  // A cookie is sent by the browser on its own, so a change made with it must prove it came from a Kiln page.
  app.addHook('preHandler', async (req) => {
    if (isSafe(req.method) || !req.viaCookie) return;
    const given = (req.body as Record<string, unknown> | undefined)?.['_csrf'] ?? req.headers['x-csrf-token'];
    if (!csrfMatches(secretOf(req), given))
      throw new KilnError('csrf_failed', 'this form needs the CSRF token of the page it came from; reload the page');
  });
  app.addHook('onSend', async (_req, reply, payload) => {
    reply.header('content-security-policy', contentSecurityPolicy);
    reply.header('x-content-type-options', 'nosniff');
    reply.header('x-frame-options', 'DENY');
    reply.header('referrer-policy', 'same-origin');
    if (!reply.hasHeader('cache-control')) reply.header('cache-control', 'no-store');
    return payload;
  });
  // API clients get the API's error body; a browser gets the login page or an error page.
  app.setErrorHandler((err, req, reply) => {
    const k = toKilnError(err);
    if (!wantsHtml(req)) return sendError(req, reply, err);
    if (k.code === 'unauthenticated' && isSafe(req.method))
      return reply.redirect(`/ui/login?next=${encodeURIComponent(req.url)}`, 303);
    if (k.httpStatus >= 500) req.log.error({ err, id: k.id }, 'ui request failed');
    return sendPage(reply, {
      title: k.code === 'not_found' ? 'Not found' : 'Not done',
      viewer: null,
      status: k.httpStatus,
      body: html`${notice('error', `${k.code}: ${k.message}`)}
        <p><a href="/">Overview</a></p>`,
    });
  });

  app.get(
    '/ui/static/:file',
    { config: { access: 'public' }, schema: { tags: ['ui'], params: Type.Object({ file: Type.String() }) } },
    async (req, reply) => {
      const f = req.params.file;
      if (!(f in assets)) throw new KilnError('not_found', `no UI file ${f}`);
      return reply.type(staticTypes[f]).header('cache-control', 'no-cache').send(assets[f]);
    },
  );

  app.get(
    '/ui/login',
    {
      config: { access: 'public' },
      schema: { tags: ['ui'], querystring: Type.Object({ next: Type.Optional(Type.String({ maxLength: 500 })) }) },
    },
    async (req, reply) =>
      sendPage(reply, { title: 'Log in', viewer: null, body: loginBody({ next: safeNext(req.query.next) }) }),
  );

  app.post(
    '/ui/login',
    { config: { access: 'public' }, schema: { tags: ['ui'], body: FormBody } },
    async (req, reply) => {
      const b = req.body;
      const next = safeNext(b['next']);
      const again = (status: number, error: string) =>
        sendPage(reply, { title: 'Log in', viewer: null, status, body: loginBody({ next, error, name: b['name'] }) });
      const wait = await deps.limiter.retryAfter(req.ip);
      if (wait > 0) return again(429, `Too many failed logins; try again in ${wait} s.`);
      try {
        const s = await deps.login({ name: String(b['name'] ?? ''), password: String(b['password'] ?? '') }, req.ip);
        const now = (deps.now ?? (() => new Date()))().getTime();
        reply.header(
          'set-cookie',
          sessionCookie(s.token, {
            secure: req.protocol === 'https',
            maxAgeSeconds: (Date.parse(s.expiresAt) - now) / 1000,
          }),
        );
        return reply.redirect(next, 303);
      } catch (err) {
        if (!hasCode(err, 'unauthenticated')) throw err;
        await deps.limiter.fail(req.ip);
        return again(401, err.message);
      }
    },
  );

  app.post(
    '/ui/logout',
    { config: { access: 'viewer', session: true }, schema: { tags: ['ui'], body: Type.Optional(FormBody) } },
    async (req, reply) => {
      // A plain API token used on this route is not a session: nothing to end, only the cookie to clear.
      if (req.principal?.kind === 'user') await uiUser(app, req).api('POST', '/api/v1/logout', {});
      reply.header('set-cookie', sessionCookie(null, { secure: req.protocol === 'https' }));
      return reply.redirect('/ui/login', 303);
    },
  );

  readPageRoutes(app, deps);
  hostPageRoutes(app);
  actionRoutes(app);
};

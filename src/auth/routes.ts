import type { FastifyPluginAsyncTypebox } from '../api/type-provider.js';
import { Type } from '@sinclair/typebox';
import { actorOf, roles } from '../api/role.js';
import { KilnError } from '../error/kiln-error.js';
import type { TokenService } from './token-service.js';

const TokenReply = Type.Object({
  id: Type.String(),
  name: Type.String(),
  role: Type.String(),
  createdAt: Type.String(),
  createdBy: Type.String(),
  expiresAt: Type.Union([Type.String(), Type.Null()]),
  revokedAt: Type.Union([Type.String(), Type.Null()]),
  lastUsedAt: Type.Union([Type.String(), Type.Null()]),
});

/** API token management under /api/v1/tokens (admin only), and POST /api/v1/logout (the caller's own login session). */
export const tokenRoutes: FastifyPluginAsyncTypebox<{ tokens: TokenService; now?: () => Date }> = async (
  app,
  { tokens, now },
) => {
  app.post(
    '/tokens',
    {
      config: { access: 'admin' },
      schema: {
        tags: ['tokens'],
        summary: 'Create an API token; the token is in this reply only',
        body: Type.Object(
          {
            name: Type.String({ minLength: 1, maxLength: 64, pattern: '^[A-Za-z0-9_.@-]+$' }),
            role: Type.Union(roles.map((r) => Type.Literal(r))),
            expiresInDays: Type.Optional(Type.Integer({ minimum: 1, maximum: 3650 })),
          },
          { additionalProperties: false },
        ),
        response: { 201: Type.Object({ token: Type.String(), record: TokenReply }) },
      },
    },
    async (req, reply) => {
      const b = req.body;
      const t = (now ?? (() => new Date()))();
      const expiresAt = b.expiresInDays ? new Date(t.getTime() + b.expiresInDays * 86_400_000).toISOString() : null;
      reply.status(201);
      return tokens.create({ name: b.name, role: b.role, expiresAt }, actorOf(req.principal));
    },
  );
  app.get(
    '/tokens',
    {
      config: { access: 'admin' },
      schema: {
        tags: ['tokens'],
        summary: 'List API tokens (never the secrets)',
        response: { 200: Type.Object({ items: Type.Array(TokenReply) }) },
      },
    },
    async () => ({ items: await tokens.list() }),
  );
  app.delete(
    '/tokens/:id',
    {
      config: { access: 'admin' },
      schema: {
        tags: ['tokens'],
        summary: 'Revoke an API token by id or name',
        params: Type.Object({ id: Type.String() }),
        response: { 200: TokenReply },
      },
    },
    async (req) => tokens.revoke(req.params.id, actorOf(req.principal)),
  );
  app.post(
    '/logout',
    {
      config: { access: 'viewer' },
      schema: {
        tags: ['users'],
        summary: 'End the login session that makes this call (its token stops working)',
        response: { 200: Type.Object({ loggedOut: Type.Boolean() }) },
      },
    },
    async (req) => {
      const bearer = /^Bearer\s+(\S+)$/i.exec(req.headers.authorization ?? '')?.[1];
      if (!bearer) throw new KilnError('bad_request', 'logout ends the session named by the Authorization header');
      await tokens.endSession(bearer, actorOf(req.principal));
      return { loggedOut: true };
    },
  );
};

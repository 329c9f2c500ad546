import type { FastifyReply } from 'fastify';
import type { FastifyPluginAsyncTypebox } from '../api/type-provider.js';
import { Type } from '@sinclair/typebox';
import { hasCode, KilnError } from '../error/kiln-error.js';
import { createLoginLimiter, type LoginLimiter } from './login-limiter.js';
import { actorOf, roles } from '../api/role.js';
import { minPasswordLength, type UserService } from './user-service.js';

const UserReply = Type.Object({
  id: Type.String(),
  name: Type.String(),
  role: Type.String(),
  createdAt: Type.String(),
  createdBy: Type.String(),
  disabledAt: Type.Union([Type.String(), Type.Null()]),
});
const Name = Type.String({ minLength: 1, maxLength: 64, pattern: '^[A-Za-z0-9_.@-]+$' });
const Password = Type.String({ minLength: minPasswordLength, maxLength: 1024 });
const RoleSchema = Type.Union(roles.map((r) => Type.Literal(r)));

async function refuseWhileLimited(limiter: LoginLimiter, source: string, reply: FastifyReply): Promise<void> {
  const wait = await limiter.retryAfter(source);
  if (wait > 0) {
    reply.header('retry-after', String(wait));
    throw new KilnError('rate_limited', `too many failed logins from ${source}; try again in ${wait} s`, {
      details: { retryAfterSeconds: wait },
    });
  }
}

/**
 * API users under /api/v1/users (admin, except a user changing their own
 * password) and /api/v1/login (public, rate-limited per source address).
 * Passwords travel only in request bodies and are never echoed or logged.
 */
export const userRoutes: FastifyPluginAsyncTypebox<{ users: UserService; limiter?: LoginLimiter }> = async (
  app,
  { users, limiter: given },
) => {
  const limiter = given ?? createLoginLimiter();

  app.post(
    '/users',
    {
      config: { access: 'admin' },
      schema: {
        tags: ['users'],
        summary: 'Create an API user with a password (at least 12 characters)',
        body: Type.Object({ name: Name, role: RoleSchema, password: Password }, { additionalProperties: false }),
        response: { 201: UserReply },
      },
    },
    async (req, reply) => {
      const b = req.body;
      reply.status(201);
      return users.create(b, actorOf(req.principal));
    },
  );

  app.get(
    '/users',
    {
      config: { access: 'admin' },
      schema: {
        tags: ['users'],
        summary: 'List API users (never their passwords)',
        response: { 200: Type.Object({ items: Type.Array(UserReply) }) },
      },
    },
    async () => ({ items: await users.list() }),
  );

  // Access is checked in the service: an admin may change anything, and any
  // signed-in user may change their own password (with the old one).
  app.patch(
    '/users/:name',
    {
      config: { access: 'viewer' },
      schema: {
        tags: ['users'],
        summary: 'Change a user: role and disabled (admin), or password (the user with oldPassword, or an admin)',
        params: Type.Object({ name: Type.String() }),
        body: Type.Object(
          {
            role: Type.Optional(RoleSchema),
            disabled: Type.Optional(Type.Boolean()),
            password: Type.Optional(Password),
            oldPassword: Type.Optional(Type.String({ maxLength: 1024 })),
          },
          { additionalProperties: false, minProperties: 1 },
        ),
        response: { 200: UserReply },
      },
    },
    async (req, reply) => {
      const b = req.body;
      const name = req.params.name;
      if (b.password !== undefined) await refuseWhileLimited(limiter, req.ip, reply);
      try {
        return await users.update(name, b, req.principal!, actorOf(req.principal));
      } catch (err) {
        // A wrong old password counts like a failed login, so a stolen session cannot guess it quickly.
        if (b.password !== undefined && hasCode(err, 'forbidden')) await limiter.fail(req.ip);
        throw err;
      }
    },
  );

  app.delete(
    '/users/:name',
    {
      config: { access: 'admin' },
      schema: {
        tags: ['users'],
        summary: 'Delete a user and revoke their login sessions',
        params: Type.Object({ name: Type.String() }),
        response: { 200: UserReply },
      },
    },
    async (req) => users.delete(req.params.name, actorOf(req.principal)),
  );

  app.post(
    '/login',
    {
      config: { access: 'public' },
      schema: {
        tags: ['users'],
        summary: 'Log in with a user name and password; returns a session token expiring after expiresInHours',
        security: [],
        body: Type.Object(
          {
            name: Name,
            password: Type.String({ minLength: 1, maxLength: 1024 }),
            expiresInHours: Type.Optional(
              Type.Integer({
                minimum: 1,
                maximum: users.loginConfig.maxHours,
                default: users.loginConfig.defaultHours,
              }),
            ),
          },
          { additionalProperties: false },
        ),
        response: { 200: Type.Object({ token: Type.String(), expiresAt: Type.String(), user: UserReply }) },
      },
    },
    async (req, reply) => {
      await refuseWhileLimited(limiter, req.ip, reply);
      try {
        return await users.login(req.body, req.ip);
      } catch (err) {
        if (hasCode(err, 'unauthenticated')) await limiter.fail(req.ip);
        throw err;
      }
    },
  );
};

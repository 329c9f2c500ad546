import { Type } from '@sinclair/typebox';
import { actorOf } from '../api/role.js';
import type { FastifyPluginAsyncTypebox } from '../api/type-provider.js';
import type { HookService } from './hook-service.js';
import { DeliveryQuery, DeliveryReply, HookCreateBody, HookParams, HookPatchBody, HookReply } from './hook-schemas.js';

/** Outbound hooks under /api/v1/hooks (admin: a hook sends events to a URL of the caller's choice). */
export const hookRoutes: FastifyPluginAsyncTypebox<{ hooks: HookService }> = async (app, { hooks }) => {
  app.post(
    '/hooks',
    {
      config: { access: 'admin' },
      schema: {
        tags: ['hooks'],
        summary: 'Create an HTTP hook; its signing secret is in this reply only',
        body: HookCreateBody,
        response: { 201: Type.Object({ secret: Type.String(), hook: HookReply }) },
      },
    },
    async (req, reply) => {
      const { hook, secret } = await hooks.create(req.body, actorOf(req.principal));
      reply.status(201);
      return { secret, hook: { ...hook, type: 'http' as const } };
    },
  );
  app.get(
    '/hooks',
    {
      config: { access: 'admin' },
      schema: {
        tags: ['hooks'],
        summary: 'List hooks: HTTP hooks and executable hooks from the config file (never secrets)',
        response: { 200: Type.Object({ items: Type.Array(HookReply) }) },
      },
    },
    async () => ({ items: await hooks.list() }),
  );
  app.get(
    '/hooks/:hook',
    {
      config: { access: 'admin' },
      schema: {
        tags: ['hooks'],
        summary: 'Show a hook (id, name, or exec:<name>)',
        params: HookParams,
        response: { 200: HookReply },
      },
    },
    async (req) => hooks.get(req.params.hook),
  );
  app.patch(
    '/hooks/:hook',
    {
      config: { access: 'admin' },
      schema: {
        tags: ['hooks'],
        summary: "Change an HTTP hook's URL, kinds or enabled flag",
        params: HookParams,
        body: HookPatchBody,
        response: { 200: HookReply },
      },
    },
    async (req) => ({
      ...(await hooks.update(req.params.hook, req.body, actorOf(req.principal))),
      type: 'http' as const,
    }),
  );
  app.delete(
    '/hooks/:hook',
    {
      config: { access: 'admin' },
      schema: { tags: ['hooks'], summary: 'Delete an HTTP hook with its queue and history', params: HookParams },
    },
    async (req, reply) => {
      await hooks.delete(req.params.hook, actorOf(req.principal));
      return reply.status(204).send();
    },
  );
  app.get(
    '/hooks/:hook/deliveries',
    {
      config: { access: 'admin' },
      schema: {
        tags: ['hooks'],
        summary: "A hook's deliveries, newest event first: attempts, status, last error",
        params: HookParams,
        querystring: DeliveryQuery,
        response: { 200: Type.Object({ items: Type.Array(DeliveryReply) }) },
      },
    },
    async (req) => ({
      items: await hooks.deliveries(req.params.hook, { status: req.query.status, limit: req.query.limit ?? 100 }),
    }),
  );
};

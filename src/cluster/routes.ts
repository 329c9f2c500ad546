import { Type } from '@sinclair/typebox';
import type { FastifyPluginAsyncTypebox } from '../api/type-provider.js';
import type { MemberView } from './cluster-view.js';

const Member = Type.Object({
  id: Type.String(),
  name: Type.String(),
  url: Type.String(),
  version: Type.String(),
  startedAt: Type.String(),
  lastSeen: Type.String(),
  silentSeconds: Type.Number(),
  health: Type.Union([Type.Literal('healthy'), Type.Literal('unhealthy'), Type.Literal('stopped')]),
  roles: Type.Array(Type.Object({ role: Type.String(), term: Type.Integer(), since: Type.String() })),
  load: Type.Union([
    Type.Object({
      at: Type.String(),
      booting: Type.Integer(),
      late: Type.Integer(),
      sign: Type.Union([Type.String(), Type.Null()]),
      room: Type.Union([
        Type.Object({ slots: Type.Integer(), loading: Type.Integer(), waiting: Type.Integer() }),
        Type.Null(),
      ]),
    }),
    Type.Null(),
  ]),
});

/** GET /api/v1/controllers: the controllers on this store, their health and the singleton roles each holds (viewer). */
export const clusterRoutes: FastifyPluginAsyncTypebox<{ list: () => Promise<MemberView[]> }> = async (
  app,
  { list },
) => {
  app.get(
    '/controllers',
    {
      config: { access: 'viewer' },
      schema: {
        tags: ['controllers'],
        summary: 'The controllers on this store: health from their heartbeat and the singleton roles each holds',
        response: { 200: Type.Object({ items: Type.Array(Member) }) },
      },
    },
    async () => ({ items: await list() }),
  );
};

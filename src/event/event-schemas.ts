import { Type } from '@sinclair/typebox';

export const EventReply = Type.Object({
  seq: Type.Integer(),
  at: Type.String(),
  actor: Type.String(),
  kind: Type.String(),
  hostId: Type.Union([Type.String(), Type.Null()]),
  subject: Type.Union([Type.String(), Type.Null()]),
  message: Type.String(),
  reason: Type.Union([Type.String(), Type.Null()]),
  before: Type.Unknown(),
  after: Type.Unknown(),
  data: Type.Unknown(),
});

export const EventListReply = Type.Object({
  items: Type.Array(EventReply),
  next: Type.Union([Type.Integer(), Type.Null()]),
});

export const EventListQuery = Type.Object(
  {
    host: Type.Optional(Type.String({ description: 'host id' })),
    kind: Type.Optional(Type.String({ description: 'exact kind, or a prefix ending in "." (host.)' })),
    actor: Type.Optional(Type.String()),
    after: Type.Optional(Type.Integer({ description: 'cursor: sequence number; returns newer events' })),
    before: Type.Optional(Type.Integer()),
    order: Type.Optional(Type.Union([Type.Literal('asc'), Type.Literal('desc')])),
    limit: Type.Optional(Type.Integer({ minimum: 1, maximum: 1000, default: 100 })),
  },
  { additionalProperties: false },
);

export const EventStreamQuery = Type.Object(
  {
    host: Type.Optional(Type.String({ description: 'host id' })),
    kind: Type.Optional(Type.String({ description: 'kind prefix: host. (every host event) or a whole kind' })),
    after: Type.Optional(
      Type.Integer({ minimum: 0, description: 'start after this position (the Last-Event-ID header wins)' }),
    ),
  },
  { additionalProperties: false },
);

export const EventStreamHeaders = Type.Object({
  'last-event-id': Type.Optional(Type.String({ pattern: '^[0-9]{1,15}$', description: 'resume after this position' })),
});

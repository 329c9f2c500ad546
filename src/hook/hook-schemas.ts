import { Type } from '@sinclair/typebox';

const Kinds = Type.Array(Type.String({ minLength: 1, maxLength: 100, pattern: '^(\\*|[a-z0-9_.-]+)$' }), {
  minItems: 1,
  maxItems: 32,
  description: 'event kind prefixes (host., host.state_changed) or * for every event',
});

export const HookCreateBody = Type.Object(
  {
    name: Type.String({ minLength: 1, maxLength: 64, pattern: '^[A-Za-z0-9][A-Za-z0-9_.-]*$' }),
    url: Type.String({ minLength: 1, maxLength: 2048, description: 'http(s) URL; no user or password in it' }),
    kinds: Kinds,
    host: Type.Optional(
      Type.String({ minLength: 1, maxLength: 253, description: "only this host's events (name or id)" }),
    ),
    enabled: Type.Optional(Type.Boolean()),
  },
  { additionalProperties: false },
);

export const HookPatchBody = Type.Object(
  {
    url: Type.Optional(Type.String({ minLength: 1, maxLength: 2048 })),
    kinds: Type.Optional(Kinds),
    enabled: Type.Optional(Type.Boolean()),
  },
  { additionalProperties: false },
);

export const HookReply = Type.Object({
  type: Type.Union([Type.Literal('http'), Type.Literal('exec')]),
  id: Type.String(),
  name: Type.String(),
  url: Type.Optional(Type.String()),
  command: Type.Optional(Type.Array(Type.String())),
  kinds: Type.Array(Type.String()),
  hostId: Type.Optional(Type.Union([Type.String(), Type.Null()])),
  host: Type.Optional(Type.Union([Type.String(), Type.Null()])),
  enabled: Type.Boolean(),
  createdAt: Type.Optional(Type.String()),
  createdBy: Type.Optional(Type.String()),
});

export const HookParams = Type.Object({ hook: Type.String({ minLength: 1, maxLength: 100 }) });

export const DeliveryReply = Type.Object({
  id: Type.String({ description: 'delivery id: the same on every attempt' }),
  hookId: Type.String(),
  eventSeq: Type.Integer(),
  eventKind: Type.String(),
  status: Type.Union([Type.Literal('pending'), Type.Literal('delivered'), Type.Literal('dead')]),
  attempts: Type.Integer(),
  nextAt: Type.String(),
  lastStatus: Type.Union([Type.Integer(), Type.Null()]),
  lastError: Type.Union([Type.String(), Type.Null()]),
  createdAt: Type.String(),
  updatedAt: Type.String(),
});

export const DeliveryQuery = Type.Object(
  {
    status: Type.Optional(Type.Union([Type.Literal('pending'), Type.Literal('delivered'), Type.Literal('dead')])),
    limit: Type.Optional(Type.Integer({ minimum: 1, maximum: 1000, default: 100 })),
  },
  { additionalProperties: false },
);

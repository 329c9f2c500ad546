import { Type, type Static } from '@sinclair/typebox';
import { bounded, optionsBounds } from '../api/json-bounds.js';

// Request and response schemas of the power routes (STYLE 7: separate).
const Reason = Type.Optional(Type.String({ maxLength: 500, description: 'why (recorded in the events)' }));
const Action = Type.Union([Type.Literal('on'), Type.Literal('off'), Type.Literal('cycle'), Type.Literal('soft-off')]);
const Device = Type.Union([Type.Literal('network'), Type.Literal('disk'), Type.Literal('http')]);
const State = Type.Union([Type.Literal('on'), Type.Literal('off'), Type.Literal('unknown')]);
const ErrorSummary = Type.Object({ code: Type.String(), message: Type.String() });

export const PowerParams = Type.Object({ host: Type.String({ description: 'host id or name' }) });

export const PowerActionBody = Type.Object({ action: Action, reason: Reason }, { additionalProperties: false });
export type PowerActionBody = Static<typeof PowerActionBody>;

export const BootDeviceBody = Type.Object(
  {
    device: Device,
    persistent: Type.Optional(Type.Boolean({ default: false, description: 'every boot instead of the next one only' })),
    reason: Reason,
  },
  { additionalProperties: false },
);
export type BootDeviceBody = Static<typeof BootDeviceBody>;

export const BatchBody = Type.Object(
  {
    hosts: Type.Array(Type.String({ minLength: 1, maxLength: 253 }), {
      minItems: 1,
      maxItems: 10_000,
      uniqueItems: true,
      description: 'host ids or names (up to 10 000: a whole row of racks in one batch, paced as one)',
    }),
    action: Type.Literal('on'),
    staggerMs: Type.Optional(
      Type.Integer({
        minimum: 0,
        maximum: 600_000,
        description: 'host i starts no earlier than i × staggerMs (default 0 with headroom pacing, 2000 with stagger)',
      }),
    ),
    pacing: Type.Optional(
      Type.Union([Type.Literal('headroom'), Type.Literal('stagger')], {
        default: 'headroom',
        description:
          'headroom: each power-on waits until the data plane has room for one more boot (DHCP queue, TFTP transfers, HTTP requests in flight, boots in progress; docs/power.md); stagger: the stagger alone',
      }),
    ),
    maxParallel: Type.Optional(Type.Integer({ minimum: 1, maximum: 1000, default: 20 })),
    bootNetwork: Type.Optional(
      Type.Boolean({ default: false, description: 'set a network boot override before powering on' }),
    ),
    reason: Reason,
  },
  { additionalProperties: false },
);
export type BatchBody = Static<typeof BatchBody>;

export const EnlistBody = Type.Object(
  {
    driver: Type.String({ minLength: 1, maxLength: 32 }),
    address: Type.String({ minLength: 1, maxLength: 255 }),
    username: Type.Optional(Type.String({ maxLength: 128 })),
    password: Type.Optional(
      Type.String({ maxLength: 256, description: 'write-only: sealed into each host, never returned' }),
    ),
    options: Type.Optional(Type.Record(Type.String({ maxLength: 64 }), Type.Unknown(), bounded(optionsBounds))),
    reason: Reason,
  },
  { additionalProperties: false },
);
export type EnlistBody = Static<typeof EnlistBody>;

export const PowerStatusReply = Type.Object({
  host: Type.String(),
  driver: Type.String(),
  state: Type.Union([State, Type.Null()]),
  recorded: Type.Union([State, Type.Null()]),
  capabilities: Type.Object({
    powerActions: Type.Array(Type.String()),
    status: Type.Boolean(),
    bootOnce: Type.Array(Type.String()),
    bootPersistent: Type.Array(Type.String()),
    virtualMedia: Type.Boolean(),
    enumerate: Type.Boolean(),
    inventory: Type.Boolean(),
  }),
});
export type PowerStatusReply = Static<typeof PowerStatusReply>;

export const PowerActionReply = Type.Object({ host: Type.String(), action: Type.String(), ok: Type.Boolean() });
export const BootDeviceReply = Type.Object({ host: Type.String(), device: Type.String(), persistent: Type.Boolean() });
export const BatchReply = Type.Object({
  items: Type.Array(Type.Object({ host: Type.String(), ok: Type.Boolean(), error: Type.Optional(ErrorSummary) })),
  admission: Type.Union(
    [
      Type.Object({
        window: Type.Integer({ description: 'boots allowed at once when the batch ended' }),
        maxWindow: Type.Integer(),
        rate: Type.Number({ description: 'power-ons per second allowed when the batch ended' }),
        maxRate: Type.Number(),
        cuts: Type.Integer({ description: 'times the rate of power-ons was halved for congestion' }),
        lastCut: Type.Union([Type.String(), Type.Null()], { description: 'the congestion sign of the last cut' }),
        waitedMs: Type.Integer({ description: 'total time power-ons waited for headroom' }),
        forced: Type.Integer({ description: 'power-ons let through after 30 s without headroom' }),
      }),
      Type.Null(),
    ],
    { description: 'what admission control saw (null with stagger pacing)' },
  ),
});
const Enlisted = Type.Object({
  id: Type.String(),
  name: Type.String(),
  systemId: Type.String(),
  macs: Type.Array(Type.String()),
});
export const EnlistReply = Type.Object({ created: Type.Array(Enlisted), updated: Type.Array(Enlisted) });
export const DriversReply = Type.Object({ items: Type.Array(Type.Object({ name: Type.String() })) });

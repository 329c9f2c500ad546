import { Type, type Static } from '@sinclair/typebox';
import { bounded, optionsBounds } from '../api/json-bounds.js';
import { hostStates } from './lifecycle.js';
import { labelKeyPattern } from './validate-host.js';

const StateSchema = Type.Union(hostStates.map((s) => Type.Literal(s)));
const Firmware = Type.Union([Type.Literal('bios'), Type.Literal('uefi'), Type.Null()]);
// Keys are checked with propertyNames: TypeBox's Record only constrains keys that match its pattern and lets others through with any value.
const Labels = Type.Record(Type.String(), Type.String({ maxLength: 255 }), {
  propertyNames: { pattern: labelKeyPattern.source },
  maxProperties: 256,
});

export const NicInput = Type.Object(
  {
    mac: Type.String({ maxLength: 64, description: 'MAC address in any common notation; stored as aa:bb:cc:dd:ee:ff' }),
    name: Type.Optional(Type.Union([Type.String({ maxLength: 32 }), Type.Null()])),
    boot: Type.Optional(Type.Boolean({ description: 'the NIC the host network-boots from (exactly one)' })),
  },
  { additionalProperties: false },
);

export const BmcInputSchema = Type.Object(
  {
    driver: Type.String({
      minLength: 1,
      maxLength: 32,
      description: 'power driver: ipmi, redfish, libvirt, wol, webhook',
    }),
    address: Type.Optional(Type.Union([Type.String({ maxLength: 255 }), Type.Null()])),
    username: Type.Optional(Type.Union([Type.String({ maxLength: 128 }), Type.Null()])),
    password: Type.Optional(
      Type.Union([
        Type.String({ maxLength: 256, description: 'write-only: stored encrypted, never returned' }),
        Type.Null(),
      ]),
    ),
    options: Type.Optional(Type.Record(Type.String({ maxLength: 64 }), Type.Unknown(), bounded(optionsBounds))),
  },
  { additionalProperties: false },
);

export const HostCreateBody = Type.Object(
  {
    name: Type.String({ minLength: 1, maxLength: 253 }),
    nics: Type.Optional(Type.Array(NicInput, { maxItems: 64 })),
    tags: Type.Optional(Type.Array(Type.String({ maxLength: 63 }), { maxItems: 64 })),
    labels: Type.Optional(Labels),
    profile: Type.Optional(Type.Union([Type.String({ maxLength: 128 }), Type.Null()])),
    firmware: Type.Optional(Firmware),
    state: Type.Optional(
      Type.Union([Type.Literal('new'), Type.Literal('ready')], {
        description: 'initial state: new (default) or ready to skip discovery',
      }),
    ),
    bmc: Type.Optional(Type.Union([BmcInputSchema, Type.Null()])),
    reason: Type.Optional(Type.String({ maxLength: 500 })),
  },
  { additionalProperties: false },
);
export type HostCreateBody = Static<typeof HostCreateBody>;

export const HostPatchBody = Type.Object(
  {
    name: Type.Optional(Type.String({ minLength: 1, maxLength: 253 })),
    nics: Type.Optional(Type.Array(NicInput, { maxItems: 64 })),
    tags: Type.Optional(Type.Array(Type.String({ maxLength: 63 }), { maxItems: 64 })),
    labels: Type.Optional(Labels),
    profile: Type.Optional(Type.Union([Type.String({ maxLength: 128 }), Type.Null()])),
    firmware: Type.Optional(Firmware),
    bmc: Type.Optional(Type.Union([BmcInputSchema, Type.Null()])),
    needsAttention: Type.Optional(Type.Boolean()),
    reason: Type.Optional(Type.String({ maxLength: 500 })),
  },
  { additionalProperties: false },
);
export type HostPatchBody = Static<typeof HostPatchBody>;

export const HostStateBody = Type.Object(
  {
    state: StateSchema,
    reason: Type.Optional(Type.String({ maxLength: 500 })),
    failedStage: Type.Optional(Type.String({ maxLength: 64 })),
  },
  { additionalProperties: false },
);

export const HostReply = Type.Object({
  id: Type.String(),
  name: Type.String(),
  state: StateSchema,
  stateReason: Type.Union([Type.String(), Type.Null()]),
  failedStage: Type.Union([Type.String(), Type.Null()]),
  profile: Type.Union([Type.String(), Type.Null()]),
  firmware: Firmware,
  nics: Type.Array(
    Type.Object({ mac: Type.String(), name: Type.Union([Type.String(), Type.Null()]), boot: Type.Boolean() }),
  ),
  tags: Type.Array(Type.String()),
  labels: Type.Record(Type.String(), Type.String()),
  facts: Type.Record(Type.String(), Type.Unknown()),
  hardwareHash: Type.Union([Type.String(), Type.Null()]),
  needsAttention: Type.Boolean(),
  bmc: Type.Union([
    Type.Object({
      driver: Type.String(),
      address: Type.Union([Type.String(), Type.Null()]),
      username: Type.Union([Type.String(), Type.Null()]),
      hasPassword: Type.Boolean(),
      options: Type.Record(Type.String(), Type.Unknown()),
    }),
    Type.Null(),
  ]),
  version: Type.Integer(),
  createdAt: Type.String(),
  updatedAt: Type.String(),
});

export const HostListItem = Type.Composite([
  HostReply,
  Type.Object({
    health: Type.Union(
      [Type.Literal('ok'), Type.Literal('late'), Type.Literal('unreachable'), Type.Literal('never'), Type.Null()],
      {
        description: "heartbeat health of a deployed host (this controller's memory); null when not deployed",
      },
    ),
  }),
]);

export const HostListReply = Type.Object({
  items: Type.Array(HostListItem),
  next: Type.Union([Type.String({ description: 'cursor for `after`' }), Type.Null()], {
    description: 'null on the last page',
  }),
});
export type HostListReply = Static<typeof HostListReply>;

export const HostListQuery = Type.Object(
  {
    state: Type.Optional(StateSchema),
    tag: Type.Optional(Type.String({ maxLength: 63 })),
    label: Type.Optional(
      Type.String({ maxLength: 320, description: 'key=value: hosts whose label `key` is exactly `value`' }),
    ),
    mac: Type.Optional(Type.String({ maxLength: 64 })),
    prefix: Type.Optional(Type.String({ maxLength: 253, description: 'hosts whose name starts with this' })),
    profile: Type.Optional(Type.String({ maxLength: 128 })),
    attention: Type.Optional(Type.Boolean({ description: 'true: only hosts that need attention' })),
    health: Type.Optional(
      Type.Union([Type.Literal('ok'), Type.Literal('late'), Type.Literal('unreachable'), Type.Literal('never')], {
        description: 'deployed hosts with this heartbeat health; a page may come back short, follow `next`',
      }),
    ),
    after: Type.Optional(
      Type.String({
        maxLength: 400,
        description: 'cursor: the `next` value of the previous page (a host name also works)',
      }),
    ),
    limit: Type.Optional(Type.Integer({ minimum: 1, maximum: 1000, default: 100 })),
  },
  { additionalProperties: false },
);

export const HostParams = Type.Object({ host: Type.String({ description: 'host id or name' }) });

import { Type, type Static } from '@sinclair/typebox';
import { AfterDiscoverySchema, SelfTestOptionsSchema, SelfTestsSchema } from '../selftest/discovery-actions.js';

/** What a rule matches in the facts; every given condition must hold. */
export const RuleMatch = Type.Object(
  {
    vendor: Type.Optional(Type.String({ maxLength: 255, description: 'DMI system vendor, exact (case-insensitive)' })),
    product: Type.Optional(Type.String({ maxLength: 255, description: 'DMI product name, exact (case-insensitive)' })),
    macPrefix: Type.Optional(
      Type.String({
        maxLength: 17,
        pattern: '^([0-9a-fA-F]{2}[:-]){0,5}[0-9a-fA-F]{2}$',
        description: 'boot MAC prefix such as 52:54:00',
      }),
    ),
    memoryGiBAtLeast: Type.Optional(Type.Number({ minimum: 0 })),
    cpuCountAtLeast: Type.Optional(Type.Integer({ minimum: 0 })),
    diskCount: Type.Optional(Type.Integer({ minimum: 0 })),
    diskCountAtLeast: Type.Optional(Type.Integer({ minimum: 0 })),
    firmware: Type.Optional(Type.Union([Type.Literal('bios'), Type.Literal('uefi')])),
  },
  { additionalProperties: false },
);

/** What a matching rule assigns. `name` may use {mac} (12 hex digits), {serial}, {vendor}, {product}, {uuid}. */
export const RuleAssign = Type.Object(
  {
    profile: Type.Optional(Type.String({ minLength: 1, maxLength: 128 })),
    name: Type.Optional(Type.String({ minLength: 1, maxLength: 200 })),
    tags: Type.Optional(Type.Array(Type.String({ maxLength: 63 }), { maxItems: 32 })),
    selfTests: Type.Optional(SelfTestsSchema),
    selfTestOptions: Type.Optional(SelfTestOptionsSchema),
    afterDiscovery: Type.Optional(AfterDiscoverySchema),
  },
  { additionalProperties: false },
);

export const RuleBody = Type.Object(
  {
    priority: Type.Optional(
      Type.Integer({
        minimum: 0,
        maximum: 1_000_000,
        default: 100,
        description: 'lower runs first; the first match wins',
      }),
    ),
    match: RuleMatch,
    assign: RuleAssign,
  },
  { additionalProperties: false },
);

/** A discovery rule: applied once, when a host's first facts arrive. */
export interface Rule extends Static<typeof RuleBody> {
  name: string;
  priority: number;
}

/** Placeholders a name pattern may use. */
export const namePlaceholders = ['mac', 'serial', 'vendor', 'product', 'uuid'] as const;

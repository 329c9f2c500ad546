import { Type, type Static } from '@sinclair/typebox';
import { readOnlyTests, type SelfTestName, type SelfTestOptions } from './self-test.js';

/** The self-tests discovery runs before a host is ready: read-only ones only. */
export const SelfTestsSchema = Type.Array(Type.Union(readOnlyTests.map((t) => Type.Literal(t))), {
  maxItems: readOnlyTests.length,
  uniqueItems: true,
  description: 'self-tests the discovery agent runs before the host is ready (read-only ones only)',
});

/** Options of those self-tests. */
export const SelfTestOptionsSchema = Type.Object(
  {
    memoryMiB: Type.Optional(
      Type.Integer({ minimum: 1, maximum: 65_536, description: "memtester's size (default 16)" }),
    ),
    nicMinMbps: Type.Optional(
      Type.Integer({
        minimum: 0,
        maximum: 1_000_000,
        description: 'least boot-NIC speed that passes (default 0: any)',
      }),
    ),
  },
  { additionalProperties: false },
);

/** What a ready host does after discovery. */
export const AfterDiscoverySchema = Type.Union([Type.Literal('wait'), Type.Literal('poweroff')], {
  description:
    'once ready: wait in the discovery image (default), or power off (through the BMC when the host has one, else the agent)',
});

/** The discovery actions a profile sets as defaults (`discovery:` in profile.yaml); a rule's own settings override them. */
export const DiscoveryActionsSchema = Type.Object(
  {
    selfTests: Type.Optional(SelfTestsSchema),
    selfTestOptions: Type.Optional(SelfTestOptionsSchema),
    afterDiscovery: Type.Optional(AfterDiscoverySchema),
  },
  { additionalProperties: false },
);
export type DiscoveryActions = Static<typeof DiscoveryActionsSchema>;

/** The discovery actions in force for one host, and who set its self-tests (`rule:NAME` or `profile:NAME`). */
export interface EffectiveDiscoveryActions {
  tests: readonly SelfTestName[];
  options: Partial<SelfTestOptions> | undefined;
  afterDiscovery: 'wait' | 'poweroff';
  /** Who set the tests (the run's requester); null without tests. */
  testsBy: string | null;
  /** Who set `afterDiscovery: poweroff`; null when waiting. */
  afterBy: string | null;
}

/**
 * Each setting from the matching rule when the rule sets it, else from the
 * host's profile (the rule's profile, else the host's own), else the default
 * (no tests, wait). Pure: the caller looks the rule and the profile up.
 */
export function effectiveDiscoveryActions(
  rule: { name: string; assign: DiscoveryActions } | null,
  profile: { name: string; discovery?: DiscoveryActions } | null,
): EffectiveDiscoveryActions {
  const r = rule?.assign;
  const p = profile?.discovery;
  const fromRule = r?.selfTests !== undefined;
  const tests = (fromRule ? r?.selfTests : p?.selfTests) ?? [];
  const options = fromRule ? r?.selfTestOptions : (r?.selfTestOptions ?? p?.selfTestOptions);
  const afterFromRule = r?.afterDiscovery !== undefined;
  const afterDiscovery = (afterFromRule ? r?.afterDiscovery : p?.afterDiscovery) ?? 'wait';
  const by = (ruleSide: boolean) => (ruleSide ? `rule:${rule!.name}` : `profile:${profile!.name}`);
  return {
    tests,
    options,
    afterDiscovery,
    testsBy: tests.length ? by(fromRule) : null,
    afterBy: afterDiscovery === 'poweroff' ? by(afterFromRule) : null,
  };
}

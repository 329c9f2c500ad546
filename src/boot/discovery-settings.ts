import { Type } from '@sinclair/typebox';
import { checkAllowList, checkCidrList, discoveryModes, type DiscoveryMode } from './discovery-policy.js';

/** Top-level settings of the discovery policy (discovery-policy.ts says what each mode does). */
export const DiscoverySettingsSchema = Type.Object({
  discovery: Type.Unsafe<DiscoveryMode>(
    Type.Union(
      discoveryModes.map((m) => Type.Literal(m)),
      {
        default: 'auto',
        description:
          'Which unknown MACs that network-boot become hosts: auto (every one), allow-list (only those matching discovery-allow), off (none: unknown MACs get no DHCP reply, no script, no enrolment).',
      },
    ),
  ),
  'discovery-allow': Type.Optional(
    Type.String({
      check: checkAllowList,
      description:
        'For discovery allow-list: MACs, OUIs (first three octets) and subnets (CIDR) whose unknown machines may become hosts, separated by commas.',
    }),
  ),
  'discovery-limit': Type.Integer({
    default: 1000,
    minimum: 1,
    maximum: 1000000,
    description:
      'Unknown MACs that may become hosts per subnet per minute; past it they are refused (and retry) until the next minute.',
  }),
  'boot-source-ranges': Type.Optional(
    Type.String({
      check: checkCidrList,
      description:
        'CIDRs (NAT relays, HTTP proxies) from which per-host boot scripts and enrolments are answered without a Kiln lease on the source address, separated by commas.',
    }),
  ),
});

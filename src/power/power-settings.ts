import { Type } from '@sinclair/typebox';

/** Top-level settings of BMC power control. */
export const PowerSettingsSchema = Type.Object({
  'power-poll-interval': Type.Integer({
    default: 300,
    minimum: 0,
    maximum: 86400,
    description:
      'Seconds between power-state polls of every host with a BMC (drift is recorded as a power.drift event); 0 disables polling.',
  }),
  'power-timeout': Type.Integer({
    default: 60,
    minimum: 1,
    maximum: 3600,
    description:
      'Hard limit, in seconds, on one BMC operation (power, boot device, status, enlistment); past it the call fails with bmc_timeout.',
  }),
  'power-libvirt-test-driver': Type.Boolean({
    default: false,
    description:
      "Development and tests only: accept the libvirt BMC address test:///default (virsh's built-in test driver). No other test: URI is ever accepted.",
  }),
  'power-launch-grace': Type.Integer({
    default: 10,
    minimum: 1,
    maximum: 600,
    description:
      "Seconds a machine powered on by a paced batch counts as booting before the boot timeline sees its first request (admission control); a real server's firmware can take 30-120 s before its first DHCP.",
  }),
  'power-max-concurrent': Type.Integer({
    default: 20,
    minimum: 1,
    maximum: 1000,
    description: 'BMC operations in flight at once on this controller (polls, API calls and batch power-ons share it).',
  }),
});

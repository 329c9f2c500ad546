import { Type, type Static } from '@sinclair/typebox';
import type { HeartbeatRules } from './health-model.js';

/** Schema of the `heartbeat:` section of the controller config (README, docs/heartbeat.md); every key has a default. */
export const HeartbeatConfigSchema = Type.Object({
  intervalSeconds: Type.Integer({
    minimum: 1,
    maximum: 3600,
    default: 60,
    description: 'How often installed hosts send a heartbeat (told to the agent in every reply).',
  }),
  missedIntervals: Type.Integer({
    minimum: 2,
    maximum: 100,
    default: 3,
    description: 'Heartbeats a host may miss before one host.unreachable event.',
  }),
  checkSeconds: Type.Integer({
    minimum: 1,
    maximum: 600,
    default: 5,
    description: 'How often silent hosts are checked.',
  }),
  flushSeconds: Type.Integer({
    minimum: 1,
    maximum: 3600,
    default: 60,
    description: 'How often changed health is written to the store (in one batch), so a restart keeps it.',
  }),
  auditHours: Type.Integer({
    minimum: 1,
    maximum: 8760,
    default: 24,
    description: 'Hardware re-audit: the agent re-sends its facts this often, and on every new boot.',
  }),
});

/** The heartbeat config slice. */
export type HeartbeatConfig = Static<typeof HeartbeatConfigSchema>;

/** The defaults of every heartbeat setting (what the schema fills in). */
export const defaultHeartbeatConfig: HeartbeatConfig = {
  intervalSeconds: 60,
  missedIntervals: 3,
  checkSeconds: 5,
  flushSeconds: 60,
  auditHours: 24,
};

/** The health model's rules from the config slice. */
export const rulesOf = (c: HeartbeatConfig): HeartbeatRules => ({
  intervalMs: c.intervalSeconds * 1000,
  missedIntervals: c.missedIntervals,
  auditMs: c.auditHours * 3600_000,
});

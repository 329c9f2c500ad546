import { Type, type Static } from '@sinclair/typebox';
import type { ErrorIssue } from '../error/kiln-error.js';
import { linearRegExp } from './linear-regex.js';

/** Schema of the `syslog:` section of the controller config (docs/syslog.md); every key has a default. */
export const SyslogConfigSchema = Type.Object({
  enabled: Type.Boolean({
    default: false,
    description: 'Receive syslog. Off by default: port 514 needs root (or CAP_NET_BIND_SERVICE).',
  }),
  address: Type.String({ minLength: 1, default: '0.0.0.0', description: 'Address to listen on (UDP and TCP).' }),
  port: Type.Integer({ minimum: 1, maximum: 65535, default: 514, description: 'Port, the same for UDP and TCP.' }),
  tcp: Type.Boolean({ default: true, description: 'Also listen on TCP (RFC 6587 octet-counted or LF framing).' }),
  maxMessageBytes: Type.Integer({
    minimum: 480,
    maximum: 8192,
    default: 8192,
    description: 'Longest message kept (at most 8192, the codec cap); a longer one is cut there and marked too_long.',
  }),
  retention: Type.Object(
    {
      maxPerHost: Type.Integer({
        minimum: 100,
        maximum: 10_000_000,
        default: 100_000,
        description: 'Messages kept per host (unattributed messages count as one host); older ones are pruned.',
      }),
      days: Type.Integer({
        minimum: 1,
        maximum: 3650,
        default: 14,
        description: 'Messages older than this are pruned.',
      }),
      maxBytes: Type.Integer({
        minimum: 1_048_576,
        maximum: 1_099_511_627_776,
        default: 1_073_741_824,
        description:
          'Bytes the log store (data-dir/syslog.sqlite) may use; beyond it the oldest lines are pruned, a chunk at a time.',
      }),
    },
    { default: {} },
  ),
  limits: Type.Object(
    {
      connections: Type.Integer({
        minimum: 1,
        maximum: 100_000,
        default: 1000,
        description: 'TCP connections in all.',
      }),
      connectionsPerSource: Type.Integer({
        minimum: 1,
        maximum: 10_000,
        default: 8,
        description: 'TCP connections from one source address.',
      }),
      idleSeconds: Type.Integer({
        minimum: 1,
        maximum: 86_400,
        default: 300,
        description: 'A TCP connection silent this long is closed.',
      }),
      queue: Type.Integer({
        minimum: 100,
        maximum: 1_000_000,
        default: 20_000,
        description: 'Messages waiting to be written; beyond it new messages are dropped and counted.',
      }),
    },
    { default: {} },
  ),
  triggers: Type.Array(
    Type.Object(
      {
        name: Type.String({ pattern: '^[a-z0-9][a-z0-9-]{0,62}$', description: 'Names the trigger in its events.' }),
        pattern: Type.String({
          minLength: 1,
          maxLength: 512,
          description:
            'Regular expression over the line text, run by a linear-time engine: no backreferences, no lookaround, case-sensitive.',
        }),
        severity: Type.Optional(
          Type.Integer({
            minimum: 0,
            maximum: 7,
            description: 'Only lines of this severity or more severe (0 emerg … 7 debug).',
          }),
        ),
        host: Type.Optional(
          Type.String({ minLength: 1, description: 'Only lines attributed to this host (name or id).' }),
        ),
        session: Type.Optional(
          Type.String({ pattern: '^[0-9a-f]{12}$', description: 'Only lines of this boot session.' }),
        ),
      },
      { additionalProperties: false },
    ),
    {
      default: [],
      maxItems: 200,
      description: 'Operator patterns over received lines; a match records a `syslog.trigger` event (docs/syslog.md).',
    },
  ),
  triggerLibrary: Type.Boolean({
    default: true,
    description: 'Also run the shipped triggers: kernel panic, OOM killer, disk I/O errors, installer failures.',
  }),
  triggerThrottleSeconds: Type.Integer({
    minimum: 1,
    maximum: 86_400,
    default: 300,
    description:
      'At most one `syslog.trigger` event per host and trigger in this time; the rest are counted in the next.',
  }),
});

/** The syslog config slice, as validated by `SyslogConfigSchema`. */
export type SyslogConfig = Static<typeof SyslogConfigSchema>;

/** The defaults of every syslog setting (what the schema fills in). */
export const defaultSyslogConfig: SyslogConfig = {
  enabled: false,
  address: '0.0.0.0',
  port: 514,
  tcp: true,
  maxMessageBytes: 8192,
  retention: { maxPerHost: 100_000, days: 14, maxBytes: 1_073_741_824 },
  limits: { connections: 1000, connectionsPerSource: 8, idleSeconds: 300, queue: 20_000 },
  triggers: [],
  triggerLibrary: true,
  triggerThrottleSeconds: 300,
};

/**
 * Checks the schema cannot make: each trigger pattern compiles on the
 * linear-time engine, and trigger names are distinct. Empty when fine.
 */
export function syslogConfigIssues(value: unknown): ErrorIssue[] {
  const triggers = (value as Partial<SyslogConfig> | undefined)?.triggers;
  if (!Array.isArray(triggers)) return [];
  const issues: ErrorIssue[] = [];
  const names = new Set<string>();
  triggers.forEach((t, i) => {
    const path = `syslog.triggers.${i}`;
    if (names.has(t.name))
      issues.push({ path, code: 'bad_value', message: `${path}: the trigger name ${t.name} is used twice` });
    names.add(t.name);
    try {
      linearRegExp(t.pattern);
    } catch (err) {
      issues.push({
        path: `${path}.pattern`,
        code: 'bad_value',
        message: `${path}.pattern: ${(err as Error).message} (see docs/syslog.md)`,
      });
    }
  });
  return issues;
}

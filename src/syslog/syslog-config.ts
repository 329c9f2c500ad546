import { Type, type Static } from '@sinclair/typebox';

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
  retention: { maxPerHost: 100_000, days: 14 },
  limits: { connections: 1000, connectionsPerSource: 8, idleSeconds: 300, queue: 20_000 },
};

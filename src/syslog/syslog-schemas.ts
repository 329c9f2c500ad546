import { Type } from '@sinclair/typebox';

const Nullable = <T extends ReturnType<typeof Type.String>>(t: T) => Type.Union([t, Type.Null()]);

/** RFC 5424 §6.2.1 severities by number (0 emerg … 7 debug). */
export const SEVERITY_NAMES = ['emerg', 'alert', 'crit', 'err', 'warning', 'notice', 'info', 'debug'] as const;

/** A severity given as 0-7 or a name, as its number. */
export function severityNumber(s: number | (typeof SEVERITY_NAMES)[number]): number {
  return typeof s === 'number' ? s : SEVERITY_NAMES.indexOf(s);
}

export const SyslogLogParams = Type.Object({ host: Type.String({ description: 'host id or name' }) });

export const SyslogLogQuery = Type.Object(
  {
    session: Type.Optional(Type.String({ pattern: '^[0-9a-f]{12}$', description: 'boot session id' })),
    since: Type.Optional(
      Type.String({ format: 'date-time', description: 'ISO 8601: the first `limit` lines at or after it' }),
    ),
    after: Type.Optional(
      Type.Integer({ minimum: 0, description: 'only lines with an id above it, oldest first (to follow)' }),
    ),
    severity: Type.Optional(
      Type.Union([Type.Integer({ minimum: 0, maximum: 7 }), Type.Union(SEVERITY_NAMES.map((n) => Type.Literal(n)))], {
        description: 'this severity and more severe: 0-7 or emerg, alert, crit, err, warning, notice, info, debug',
      }),
    ),
    grep: Type.Optional(
      Type.String({
        minLength: 1,
        maxLength: 200,
        description: 'only lines whose text contains it (ASCII case-insensitive)',
      }),
    ),
    limit: Type.Optional(Type.Integer({ minimum: 1, maximum: 5000, default: 200 })),
  },
  { additionalProperties: false },
);

/** One syslog line; `text` and the header fields are untrusted (escape before display). */
export const SyslogLineReply = Type.Object({
  id: Type.Integer(),
  hostId: Nullable(Type.String()),
  receivedAt: Type.String(),
  sourceIp: Type.String(),
  facility: Type.Integer(),
  severity: Type.Integer(),
  hostname: Nullable(Type.String()),
  app: Nullable(Type.String()),
  procId: Nullable(Type.String()),
  msgId: Nullable(Type.String()),
  text: Type.String(),
  sessionId: Nullable(Type.String()),
  defects: Type.Array(Type.String()),
});

export const SyslogLogReply = Type.Object({ items: Type.Array(SyslogLineReply) });

export const SyslogArrivalQuery = Type.Object(
  {
    key: Type.String({
      pattern: '^[A-Za-z0-9._-]{16,128}$',
      description: 'the random key the node logged (16-128 letters, digits, dot, dash, underscore)',
    }),
  },
  { additionalProperties: false },
);

export const SyslogArrivalReply = Type.Object({ received: Type.Boolean() });

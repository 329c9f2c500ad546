import { Type } from '@sinclair/typebox';

const Nullable = <T extends ReturnType<typeof Type.String>>(t: T) => Type.Union([t, Type.Null()]);

export const SyslogLogParams = Type.Object({ host: Type.String({ description: 'host id or name' }) });

export const SyslogLogQuery = Type.Object(
  {
    session: Type.Optional(Type.String({ pattern: '^[0-9a-f]{12}$', description: 'boot session id' })),
    since: Type.Optional(
      Type.String({ format: 'date-time', description: 'ISO 8601: the first `limit` lines at or after it' }),
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

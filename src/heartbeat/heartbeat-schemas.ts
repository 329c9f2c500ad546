import { Type, type Static } from '@sinclair/typebox';
import { bounded, factsBounds } from '../api/json-bounds.js';

const Nullable = <T extends Parameters<typeof Type.Union>[0][number]>(t: T) => Type.Union([t, Type.Null()]);
const Count = Type.Integer({ minimum: 0, maximum: 1e12 });
const Bytes = Type.Number({ minimum: 0, maximum: 1e18 });

const Disk = Type.Object(
  { mount: Type.String({ minLength: 1, maxLength: 512 }), sizeBytes: Bytes, usedBytes: Bytes },
  { additionalProperties: false },
);
const Smart = Type.Object(
  {
    device: Type.String({ minLength: 1, maxLength: 128 }),
    passed: Nullable(Type.Boolean()),
    reallocatedSectors: Nullable(Count),
  },
  { additionalProperties: false },
);

/** What the agent reports each interval; every list and string is bounded. */
const reportFields = {
  bootId: Type.String({
    maxLength: 64,
    pattern: '^[0-9A-Fa-f-]{8,64}$',
    description: '/proc/sys/kernel/random/boot_id',
  }),
  uptimeSeconds: Type.Number({ minimum: 0, maximum: 1e10 }),
  kernel: Type.String({ maxLength: 256 }),
  load: Type.Array(Type.Number({ minimum: 0, maximum: 1e6 }), { maxItems: 3, description: '1, 5, 15 minutes' }),
  memory: Nullable(Type.Object({ totalBytes: Bytes, availableBytes: Bytes }, { additionalProperties: false })),
  disks: Type.Array(Disk, { maxItems: 64 }),
  failedUnits: Nullable(Type.Array(Type.String({ maxLength: 256 }), { maxItems: 256 })),
  machineChecks: Nullable(Count),
  edac: Nullable(Type.Object({ correctable: Count, uncorrectable: Count }, { additionalProperties: false })),
  smart: Nullable(Type.Array(Smart, { maxItems: 64 })),
  session: Nullable(Type.String({ maxLength: 64, description: 'kiln.session= of this boot' })),
  agentVersion: Type.Integer({ minimum: 0, maximum: 1000 }),
};

/** The health report as the API shows it. */
export const HealthReportReply = Type.Object(reportFields);

/** POST /api/v1/node/heartbeat body: the report, optionally facts (re-audit) and the digest of the KRL the node has. */
export const HeartbeatBody = Type.Object(
  {
    ...reportFields,
    memory: Type.Optional(reportFields.memory),
    disks: Type.Optional(reportFields.disks),
    load: Type.Optional(reportFields.load),
    kernel: Type.Optional(reportFields.kernel),
    failedUnits: Type.Optional(reportFields.failedUnits),
    machineChecks: Type.Optional(reportFields.machineChecks),
    edac: Type.Optional(reportFields.edac),
    smart: Type.Optional(reportFields.smart),
    session: Type.Optional(reportFields.session),
    agentVersion: Type.Optional(reportFields.agentVersion),
    krlSha256: Type.Optional(Type.String({ maxLength: 64, pattern: '^[0-9a-f]{64}$' })),
    caSha256: Type.Optional(
      Type.String({ maxLength: 64, pattern: '^[0-9a-f]{64}$', description: "SHA-256 of the host's ca.pem" }),
    ),
    ab: Type.Optional(
      Type.Object(
        {
          slot: Nullable(Type.String({ maxLength: 8 })),
          good: Nullable(Type.String({ maxLength: 8 })),
          try: Type.Optional(Nullable(Type.String({ maxLength: 8 }))),
          tries: Type.Optional(Nullable(Type.String({ maxLength: 8 }))),
          fellBack: Nullable(Type.String({ maxLength: 8 })),
        },
        {
          description:
            'layout ab: the A/B state on the ESP (kiln-ab status); fellBack names a slot GRUB fell back from',
        },
      ),
    ),
    facts: Type.Optional(
      Type.Record(Type.String({ maxLength: 128 }), Type.Unknown(), {
        ...bounded(factsBounds),
        description: 'the discovery facts document (node/agent/facts.sh), when the last reply asked for a re-audit',
      }),
    ),
  },
  { additionalProperties: false },
);
export type HeartbeatBody = Static<typeof HeartbeatBody>;

/** The JSON answer to a heartbeat (Accept: text/plain gives the same as lines). */
export const HeartbeatReplySchema = Type.Object({
  intervalSeconds: Type.Integer(),
  audit: Type.Boolean({ description: 'send facts with the next heartbeat' }),
  krlSha256: Type.String(),
  krl: Nullable(Type.String({ description: 'the KRL, base64; null when krlSha256 matched' })),
  abSwitch: Type.Optional(
    Type.Boolean({ description: 'layout ab: kiln host rollback asked the agent to boot its other slot now' }),
  ),
  urls: Type.Optional(
    Type.Array(Type.String(), {
      description: "every healthy controller's base URL, this one's first: the agent's failover list (plain HTTP)",
    }),
  ),
  apiUrls: Type.Optional(
    Type.Array(Type.String(), {
      description:
        "every healthy controller's node API URL (HTTPS when on), this one's first: the agent's failover list",
    }),
  ),
  caSha256: Type.Optional(Type.String({ description: "SHA-256 of every member's TLS CA bundle" })),
  ca: Type.Optional(
    Type.String({ description: 'the bundle (PEM, base64) when the caSha256 the agent sent differs; else absent' }),
  ),
});

/** GET /api/v1/hosts/{host}/health. */
export const HealthReply = Type.Object({
  hostId: Type.String(),
  hostName: Type.String(),
  status: Type.Union([Type.Literal('never'), Type.Literal('ok'), Type.Literal('late'), Type.Literal('unreachable')]),
  intervalSeconds: Type.Integer(),
  missedIntervals: Type.Integer(),
  lastSeenAt: Nullable(Type.String()),
  lastIp: Nullable(Type.String()),
  bootedAt: Nullable(Type.String()),
  report: Nullable(HealthReportReply),
  hardware: Type.Object({ hash: Nullable(Type.String()), auditedAt: Nullable(Type.String()) }),
});

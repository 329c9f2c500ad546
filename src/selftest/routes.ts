import { Type } from '@sinclair/typebox';
import type { FastifyPluginAsyncTypebox } from '../api/type-provider.js';
import { actorOf } from '../api/role.js';
import { selfTestNames } from './self-test.js';
import type { SelfTestService } from './self-test-service.js';

const Params = Type.Object({ host: Type.String({ description: 'host id or name', maxLength: 255 }) });
const Name = Type.Union(selfTestNames.map((n) => Type.Literal(n)));

const RunReply = Type.Object({
  id: Type.String(),
  hostId: Type.String(),
  tests: Type.Array(Type.String()),
  destructive: Type.Boolean(),
  options: Type.Object({ memoryMiB: Type.Integer(), nicMinMbps: Type.Integer() }),
  requestedBy: Type.String(),
  requestedAt: Type.String(),
  finishedAt: Type.Union([Type.String(), Type.Null()]),
  outcome: Type.Union([Type.String(), Type.Null()]),
  results: Type.Array(
    Type.Object({ name: Type.String(), status: Type.String(), output: Type.String(), seconds: Type.Integer() }),
  ),
});

const RequestReply = Type.Composite([
  RunReply,
  Type.Object({
    poweredOn: Type.Boolean({
      description: 'true when the host was off and Kiln powered it on (network boot) through its BMC to run the tests',
    }),
  }),
]);

/**
 * Powers a host that is off on through its BMC (network boot, through the power queue) so it boots the
 * discovery image and picks the run up; false when it has no BMC, is not known to be off, or that failed.
 */
export type WakeForSelfTest = (hostId: string, reason: string) => Promise<boolean>;

/** POST/GET /api/v1/hosts/{host}/self-tests: ask for a run (operator), read the host's runs with their output (viewer). */
export const selfTestRoutes: FastifyPluginAsyncTypebox<{ selfTests: SelfTestService; wake?: WakeForSelfTest }> = async (
  app,
  { selfTests, wake },
) => {
  app.post(
    '/hosts/:host/self-tests',
    {
      config: { access: 'operator' },
      schema: {
        tags: ['hosts', 'self-tests'],
        summary:
          'Ask the host’s agent to run self-tests (default: every read-only one); destructive ones need the host in ready and confirm: true',
        params: Params,
        body: Type.Object(
          {
            tests: Type.Optional(Type.Array(Name, { minItems: 1, maxItems: selfTestNames.length, uniqueItems: true })),
            destructive: Type.Optional(Type.Boolean()),
            confirm: Type.Optional(Type.Boolean()),
            memoryMiB: Type.Optional(Type.Integer({ minimum: 1, maximum: 65_536 })),
            nicMinMbps: Type.Optional(Type.Integer({ minimum: 0, maximum: 1_000_000 })),
          },
          { additionalProperties: false },
        ),
        response: { 202: RequestReply },
      },
    },
    async (req, reply) => {
      const b = req.body;
      const run = await selfTests.request(
        req.params.host,
        {
          tests: b.tests,
          destructive: b.destructive,
          confirm: b.confirm,
          options: {
            ...(b.memoryMiB !== undefined ? { memoryMiB: b.memoryMiB } : {}),
            ...(b.nicMinMbps !== undefined ? { nicMinMbps: b.nicMinMbps } : {}),
          },
        },
        actorOf(req.principal),
      );
      const poweredOn = wake ? await wake(run.hostId, `self-test run ${run.id}`) : false;
      return reply.code(202).send({ ...run, poweredOn });
    },
  );
  app.get(
    '/hosts/:host/self-tests',
    {
      config: { access: 'viewer' },
      schema: {
        tags: ['hosts', 'self-tests'],
        summary: "The host's self-test runs, newest first, each test's status and output",
        params: Params,
        querystring: Type.Object(
          { limit: Type.Optional(Type.Integer({ minimum: 1, maximum: 20, default: 20 })) },
          { additionalProperties: false },
        ),
        response: { 200: Type.Object({ items: Type.Array(RunReply) }) },
      },
    },
    async (req) => ({ items: (await selfTests.list(req.params.host, req.query.limit)).runs }),
  );
};

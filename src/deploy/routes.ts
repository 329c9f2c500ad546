import type { FastifyPluginAsyncTypebox } from '../api/type-provider.js';
import { Type } from '@sinclair/typebox';
import { bounded, variablesBounds } from '../api/json-bounds.js';
import { actorOf } from '../api/role.js';
import { KilnError } from '../error/kiln-error.js';
import { HostReply } from '../inventory/host-schemas.js';
import type { InventoryService } from '../inventory/inventory-service.js';
import type { AbRollback } from './ab-rollback.js';
import type { DeployService } from './deploy-service.js';
import { installerStatusUrl } from './installer-status.js';
import { BatchBody, BatchReply } from '../power/power-schemas.js';

const Params = Type.Object({ host: Type.String() });
const DeployBody = Type.Object(
  {
    profile: Type.Optional(Type.String({ minLength: 1, maxLength: 128, description: "default: the host's profile" })),
    variables: Type.Optional(
      Type.Record(Type.String({ maxLength: 128 }), Type.Unknown(), {
        ...bounded(variablesBounds),
        description: 'profile variables for this deploy (override host labels var.<name>)',
      }),
    ),
    reuse: Type.Optional(Type.Boolean({ description: 're-install with exactly the files of the last deployment' })),
    dryRun: Type.Optional(Type.Boolean({ description: 'render and return what the host would get; change nothing' })),
    reason: Type.Optional(Type.String({ maxLength: 500 })),
  },
  { additionalProperties: false },
);

const ErrorSummary = Type.Object({ code: Type.String(), message: Type.String() });
const BatchDeployBody = Type.Object(
  {
    hosts: Type.Array(Type.String({ minLength: 1, maxLength: 253 }), {
      minItems: 1,
      maxItems: 10_000,
      uniqueItems: true,
      description: 'host ids or names (up to 10 000), each deployed, then network-booted as one paced batch',
    }),
    profile: DeployBody.properties.profile,
    variables: DeployBody.properties.variables,
    reuse: DeployBody.properties.reuse,
    // The same pacing as a batch power-on: each host's start here is its network boot.
    pacing: BatchBody.properties.pacing,
    staggerMs: BatchBody.properties.staggerMs,
    maxParallel: BatchBody.properties.maxParallel,
    reason: DeployBody.properties.reason,
  },
  { additionalProperties: false },
);
const BatchDeployReply = Type.Object({
  items: Type.Array(
    Type.Object({
      host: Type.String(),
      ok: Type.Boolean(),
      state: Type.Optional(Type.String()),
      deployment: Type.Optional(Type.Object({ id: Type.String(), profile: Type.String() })),
      power: Type.Union(
        [Type.Literal('started'), Type.Literal('failed'), Type.Literal('no-bmc'), Type.Literal('not-deployed')],
        { description: 'no-bmc: deployed, but Kiln cannot boot it: power it on yourself' },
      ),
      error: Type.Optional(ErrorSummary),
    }),
  ),
  admission: BatchReply.properties.admission,
});

/** Deploy, release and deployment history under /api/v1/hosts/:host; batch deploy at /api/v1/deployments/batch. */
export const deployRoutes: FastifyPluginAsyncTypebox<{
  deploy: DeployService;
  inventory: InventoryService;
  /** The address the host's node last called from (the node service's lastIp): the installer's status page is there. */
  lastIp: (hostId: string) => Promise<string | null>;
  /** Layout ab's `kiln host rollback`. */
  abRollback?: AbRollback;
}> = async (app, { deploy, inventory, lastIp, abRollback }) => {
  if (abRollback)
    app.post(
      '/hosts/:host/rollback',
      {
        config: { access: 'operator' },
        schema: {
          tags: ['deploy'],
          summary:
            'Layout ab: boot the other root slot. The next heartbeat reply tells the host, which makes that slot the good one and reboots (202)',
          params: Params,
          response: {
            202: Type.Object({ host: Type.String(), requestedAt: Type.String(), delivery: Type.Literal('heartbeat') }),
          },
        },
      },
      async (req, reply) => {
        const r = await abRollback.requestRollback(req.params.host, actorOf(req.principal));
        return reply.code(202).send({ ...r, delivery: 'heartbeat' as const });
      },
    );
  app.post(
    '/hosts/:host/deploy',
    {
      config: { access: 'operator' },
      schema: {
        tags: ['deploy'],
        summary: 'Deploy a profile: render install files now, state deploying, one-time network boot',
        params: Params,
        body: DeployBody,
      },
    },
    async (req) => {
      const b = req.body;
      const host = req.params.host;
      if (b.dryRun) return { dryRun: true, ...(await deploy.preview(host, b.profile, b.variables ?? {})) };
      const r = await deploy.deploy(host, {
        profile: b.profile,
        variables: b.variables,
        reuse: b.reuse,
        actor: actorOf(req.principal),
        reason: b.reason,
      });
      return {
        host: r.host,
        deployment: {
          id: r.deployment.id,
          profile: r.deployment.profile,
          files: Object.keys(r.deployment.files),
          bootSpec: r.deployment.bootSpec,
        },
      };
    },
  );
  app.post(
    '/deployments/batch',
    {
      config: { access: 'operator' },
      schema: {
        tags: ['deploy'],
        summary:
          "Deploy many hosts: each host's deployment now, then their network boots paced by the data plane's headroom (or a stagger); one result per host (partial failure is 200)",
        body: BatchDeployBody,
        response: { 200: BatchDeployReply },
      },
    },
    async (req) => {
      const b = req.body;
      const pacing = b.pacing ?? 'headroom';
      return deploy.deployMany(b.hosts, {
        profile: b.profile,
        variables: b.variables,
        reuse: b.reuse,
        actor: actorOf(req.principal),
        reason: b.reason,
        pacing: {
          pacing,
          staggerMs: b.staggerMs ?? (pacing === 'stagger' ? 2000 : 0),
          maxParallel: b.maxParallel ?? 20,
        },
      });
    },
  );
  app.post(
    '/hosts/:host/release',
    {
      config: { access: 'operator' },
      schema: {
        tags: ['deploy'],
        summary: 'Release a host: back to ready, after a disk wipe when asked',
        params: Params,
        body: Type.Object(
          { wipe: Type.Optional(Type.Boolean()), reason: Type.Optional(Type.String({ maxLength: 500 })) },
          { additionalProperties: false },
        ),
        response: { 200: HostReply },
      },
    },
    async (req) => {
      const b = req.body;
      return deploy.release(req.params.host, {
        wipe: b.wipe ?? false,
        actor: actorOf(req.principal),
        reason: b.reason,
      });
    },
  );
  app.get(
    '/hosts/:host/deployments',
    {
      config: { access: 'viewer' },
      schema: {
        tags: ['deploy'],
        summary:
          "A host's deployments, newest first (file names only); while deploying with Kiln's image writer, the newest has statusUrl, the writer's read-only status page",
        params: Params,
      },
    },
    async (req) => {
      const h = await inventory.getHost(req.params.host);
      // Only Kiln's image writer (a deployment with an image) serves the page; an OS installer does not.
      const statusUrl = h.state === 'deploying' ? installerStatusUrl(h.state, await lastIp(h.id)) : null;
      return {
        items: (await deploy.listDeployments(h.id)).map((d, i) => ({
          ...d,
          files: Object.keys(d.files),
          ...(i === 0 && d.imageSpec && statusUrl ? { statusUrl } : {}),
        })),
      };
    },
  );
  app.get(
    '/hosts/:host/deployments/current/files/:name',
    {
      config: { access: 'viewer' },
      schema: {
        tags: ['deploy'],
        summary: 'Exactly what the host got: one rendered install file',
        params: Type.Object({ host: Type.String(), name: Type.String() }),
      },
    },
    async (req, reply) => {
      const p = req.params;
      const h = await inventory.getHost(p.host);
      const d = await deploy.currentDeployment(h.id);
      const text = d?.files[p.name];
      if (text === undefined)
        throw new KilnError('not_found', `no file ${p.name} in the current deployment of ${h.name}`);
      return reply.type('text/plain; charset=utf-8').send(text);
    },
  );
};

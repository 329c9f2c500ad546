import type { FastifyReply, FastifyRequest } from 'fastify';
import type { FastifyPluginAsyncTypebox } from '../api/type-provider.js';
import { Type } from '@sinclair/typebox';
import { actorOf, type Principal } from '../api/role.js';
import { bounded, factsBounds } from '../api/json-bounds.js';
import { fillBootSession, isBootSessionId } from '../boot/boot-session.js';
import { KilnError } from '../error/kiln-error.js';
import type { Deployment } from '../deploy/deployment.js';
import type { DeployService } from '../deploy/deploy-service.js';
import type { InstallTokens } from '../deploy/install-token.js';
import type { InventoryService } from '../inventory/inventory-service.js';
import { normalizeMac, parseMac } from '../net/mac.js';
import type { NodeService, NodeSource } from './node-service.js';
import { enrolSecretPattern } from './enrol-retry.js';
import type { SecretsService } from './secrets-service.js';
import { selfTestNames } from '../selftest/self-test.js';

type NodePrincipal = Principal & { kind: 'node' };

/** The node's source address and the MAC it claims in X-Kiln-Mac (optional). */
export function nodeSource(req: FastifyRequest): NodeSource {
  const h = req.headers['x-kiln-mac'];
  return { ip: req.ip, claimedMac: typeof h === 'string' ? parseMac(h) : null };
}

function nodeOf(req: FastifyRequest): NodePrincipal {
  if (req.principal?.kind !== 'node') throw new KilnError('credential_invalid', 'this call needs a node credential');
  return req.principal;
}

const Ok = Type.Object({ ok: Type.Boolean() });

const SelfTestPlanReply = Type.Object({
  run: Type.String(),
  tests: Type.String({ description: 'comma-separated test names' }),
  destructive: Type.Boolean(),
  memoryMiB: Type.Integer(),
  nicMinMbps: Type.Integer(),
});

const SelfTestReportBody = Type.Object(
  {
    run: Type.String({ maxLength: 64 }),
    results: Type.Array(
      Type.Object(
        {
          name: Type.Union(selfTestNames.map((n) => Type.Literal(n))),
          status: Type.Union([Type.Literal('pass'), Type.Literal('fail'), Type.Literal('skipped')]),
          output: Type.String({ maxLength: 20_000 }),
          seconds: Type.Integer({ minimum: 0, maximum: 86_400 }),
        },
        { additionalProperties: false },
      ),
      { maxItems: selfTestNames.length },
    ),
  },
  { additionalProperties: false },
);

/** Routes called by nodes (discovery agent, installers, installed systems) under /api/v1/node. */
/** Builds the image writer's plan for a deployment with an image spec (kiln-image profiles). */
export type InstallPlanSource = (
  imageSpec: Record<string, unknown>,
  hostId: string,
  files: Record<string, string>,
) => Promise<unknown>;

export const nodeRoutes: FastifyPluginAsyncTypebox<{
  node: NodeService;
  deployments: Pick<DeployService, 'currentDeployment'>;
  secrets: SecretsService;
  secretsNeedTls: boolean;
  installPlan: InstallPlanSource;
  installTokens: InstallTokens;
  /** The host's current boot session as Kiln saw it start (null: none, or no timeline). */
  currentSession?: (hostId: string) => Promise<string | null>;
}> = async (app, { node, deployments, secrets, secretsNeedTls, installPlan, installTokens, currentSession }) => {
  /**
   * The session a served file's `boot.session` gets: the host's current one, as the timeline keeps it
   * (a node cannot choose its session, docs/timeline.md); when this controller saw no boot of the
   * host, the node's own X-Kiln-Session if well-formed; else none.
   */
  const sessionOf = async (req: FastifyRequest, hostId: string): Promise<string | null> => {
    const current = currentSession ? await currentSession(hostId) : null;
    if (current) return current;
    const h = req.headers['x-kiln-session'];
    return typeof h === 'string' && isBootSessionId(h) ? h : null;
  };
  const served = async (req: FastifyRequest, text: string, d: Deployment): Promise<string> =>
    fillBootSession(installTokens.fill(text, d.id), await sessionOf(req, d.hostId));
  app.post(
    '/node/discover',
    {
      config: { access: 'public' },
      schema: {
        tags: ['node'],
        summary:
          'Discovery report: enrols a new host (credential returned once; again, replaced, to a retry with the same enrolSecret while unused) or updates an enrolled one (credential required)',
        body: Type.Object(
          {
            facts: Type.Record(Type.String({ maxLength: 128 }), Type.Unknown(), bounded(factsBounds)),
            enrolSecret: Type.Optional(
              Type.String({
                pattern: enrolSecretPattern,
                maxLength: 67,
                description:
                  'A random secret the node chose for this boot (`ke_` + 64 hex digits), sent with every try of its report. Only its SHA-256 is kept with the credential an enrolling report is issued. A report without a credential repeating it, while that credential was never used and within 15 minutes of enrolment, is answered again with a fresh credential replacing the first (whose answer was lost); anything else is `enrolment_closed`. Ignored with a credential.',
              }),
            ),
          },
          { additionalProperties: false },
        ),
        response: {
          200: Type.Object({
            hostId: Type.String(),
            name: Type.String(),
            credential: Type.Optional(Type.String()),
            selfTests: Type.Optional(SelfTestPlanReply),
            then: Type.Optional(Type.Union([Type.Literal('wait'), Type.Literal('poweroff')])),
          }),
        },
      },
    },
    async (req) => {
      const auth = req.headers.authorization;
      const bearer = auth ? (/^Bearer\s+(\S+)$/i.exec(auth)?.[1] ?? null) : null;
      return node.discover(req.body.facts, nodeSource(req), bearer, req.body.enrolSecret ?? null);
    },
  );

  app.post(
    '/node/enrol',
    {
      config: { access: 'public' },
      schema: {
        tags: ['node'],
        summary:
          'Installer enrolment: issues a credential once after a deploy armed it (again, replaced, to a retry with the same enrolSecret while unused)',
        body: Type.Object(
          {
            mac: Type.String({ maxLength: 64 }),
            enrolSecret: Type.Optional(
              Type.String({
                pattern: enrolSecretPattern,
                maxLength: 67,
                description:
                  'this boot\'s enrolment secret (ke_ + 64 hex), the same on every try: a retry whose first answer was lost gets a fresh credential while the first is unused (docs/discovery.md, "A lost answer")',
              }),
            ),
          },
          { additionalProperties: false },
        ),
        response: { 200: Type.Object({ hostId: Type.String(), name: Type.String(), credential: Type.String() }) },
      },
    },
    async (req) => node.enrol(normalizeMac(req.body.mac, '/mac'), nodeSource(req), req.body.enrolSecret ?? null),
  );

  const IdentityBody = Type.Object(
    {
      mac: Type.String({ maxLength: 64 }),
      request: Type.String({
        pattern: '^kr_[0-9a-f]{64}$',
        maxLength: 67,
        description: 'the random request secret the node keeps',
      }),
    },
    { additionalProperties: false },
  );
  const IdentityReply = Type.Object({
    status: Type.Union([Type.Literal('pending'), Type.Literal('approved')]),
    hostId: Type.String(),
    name: Type.String(),
    code: Type.String(),
    credential: Type.Optional(Type.String()),
  });
  app.post(
    '/node/identity/request',
    {
      config: { access: 'public' },
      schema: {
        tags: ['node'],
        summary:
          'A node without an identity asks for one; nothing is issued until an operator approves (kiln host approve)',
        body: IdentityBody,
        response: { 200: IdentityReply },
      },
    },
    async (req) => node.requestIdentity(normalizeMac(req.body.mac, '/mac'), req.body.request, nodeSource(req)),
  );
  app.post(
    '/node/identity/claim',
    {
      config: { access: 'public' },
      schema: {
        tags: ['node'],
        summary: 'The requesting node polls: pending, or (once approved) its credential, returned once',
        body: IdentityBody,
        response: { 200: IdentityReply },
      },
    },
    async (req) => node.claimIdentity(normalizeMac(req.body.mac, '/mac'), req.body.request, nodeSource(req)),
  );

  app.post(
    '/node/credential/rotate',
    {
      config: { access: 'node' },
      schema: {
        tags: ['node'],
        summary: "Replace this node's credential; the new one is in this reply only",
        response: { 200: Type.Object({ credential: Type.String() }) },
      },
    },
    async (req) => node.rotate(nodeOf(req), nodeSource(req)),
  );

  app.get(
    '/node/next',
    {
      config: { access: 'node' },
      schema: {
        tags: ['node'],
        summary: 'What a waiting node should do next',
        response: { 200: Type.Object({ action: Type.String(), selfTests: Type.Optional(SelfTestPlanReply) }) },
      },
    },
    async (req) => node.next(nodeOf(req)),
  );

  app.post(
    '/node/self-tests',
    {
      config: { access: 'node' },
      schema: {
        tags: ['node'],
        summary: "Self-test results of one run; the answer says what the agent does next ('poweroff': itself)",
        body: SelfTestReportBody,
        response: {
          200: Type.Object({ outcome: Type.String(), state: Type.String(), then: Type.String() }),
        },
      },
    },
    async (req) => node.selfTestReport(nodeOf(req), req.body.run, req.body.results),
  );

  app.post(
    '/node/progress',
    {
      config: { access: 'node' },
      schema: {
        tags: ['node'],
        summary: 'Install progress (stage "installed": next boot exits to disk)',
        body: Type.Object(
          {
            stage: Type.String({ maxLength: 64 }),
            message: Type.Optional(Type.String({ maxLength: 2000 })),
            handoff: Type.Optional(
              Type.Union([Type.Literal('kexec'), Type.Literal('reboot')], {
                description: 'with stage "installed": how the writer starts the installed system',
              }),
            ),
          },
          { additionalProperties: false },
        ),
        response: { 200: Ok },
      },
    },
    async (req) => {
      const b = req.body;
      await node.progress(nodeOf(req), b.stage, b.message ?? '', b.handoff);
      return { ok: true };
    },
  );

  app.post(
    '/node/complete',
    {
      config: { access: 'node' },
      schema: {
        tags: ['node'],
        summary:
          'Install or wipe finished (the installer, or the installed system on first boot); the same stage again with the same credential within 15 minutes is a repeat: answered as before, nothing recorded',
        body: Type.Object(
          { stage: Type.Optional(Type.String({ maxLength: 64 })), ok: Type.Optional(Type.Boolean()) },
          { additionalProperties: false },
        ),
        response: { 200: Type.Object({ state: Type.String() }) },
      },
    },
    async (req) => ({
      state: (await node.complete(nodeOf(req), req.body.stage ?? 'install')).state,
    }),
  );

  app.post(
    '/node/failed',
    {
      config: { access: 'node' },
      schema: {
        tags: ['node'],
        summary: 'The node failed at a stage',
        body: Type.Object(
          { stage: Type.String({ maxLength: 64 }), reason: Type.String({ maxLength: 2000 }) },
          { additionalProperties: false },
        ),
        response: { 200: Type.Object({ state: Type.String() }) },
      },
    },
    async (req) => {
      const b = req.body;
      return { state: (await node.failed(nodeOf(req), b.stage, b.reason)).state };
    },
  );

  const currentFiles = async (req: FastifyRequest) => {
    const d = await deployments.currentDeployment(nodeOf(req).hostId);
    if (!d || d.status === 'superseded') throw new KilnError('not_found', `${nodeOf(req).hostName} has no deployment`);
    return d;
  };

  app.get(
    '/node/install-plan',
    {
      config: { access: 'node' },
      schema: { tags: ['node'], summary: "The image writer's plan (kiln-image profiles)" },
    },
    async (req, reply) => {
      const d = await currentFiles(req);
      if (d.imageSpec) return installPlan(d.imageSpec, d.hostId, d.files);
      const plan = d.files['install-plan.json'];
      if (plan === undefined) throw new KilnError('not_found', `profile ${d.profile} has no install-plan.json`);
      return reply.type('application/json').send(await served(req, plan, d));
    },
  );

  const sendInstallFile = async (req: FastifyRequest, reply: FastifyReply, d: Deployment, name: string) => {
    const text = d.files[name];
    if (text === undefined)
      throw new KilnError(
        'not_found',
        `no install file ${name} in deployment of profile ${d.profile}; it has: ${Object.keys(d.files).join(', ')}`,
      );
    return reply
      .type(name.endsWith('.json') ? 'application/json' : 'text/plain; charset=utf-8')
      .send(await served(req, text, d));
  };

  app.get(
    '/node/files/:name',
    {
      config: { access: 'node' },
      schema: {
        tags: ['node'],
        summary: "One of this host's rendered install files",
        params: Type.Object({ name: Type.String() }),
      },
    },
    async (req, reply) => sendInstallFile(req, reply, await currentFiles(req), req.params.name),
  );

  // For installers that cannot send a header (debian-installer's preseed/url,
  // anaconda's inst.ks, cloud-init's nocloud seed): the deployment's URL token
  // in the path stands in for the node credential. The token never reaches the
  // log: the access line shows `***` for it (src/api/request-log.ts).
  app.get(
    '/node/install/:token/:name',
    {
      config: { access: 'public' },
      schema: {
        tags: ['node'],
        summary:
          "One of this host's install files, for installers that cannot send a header (the path carries the deployment's URL token)",
        params: Type.Object({ token: Type.String({ maxLength: 64 }), name: Type.String({ maxLength: 128 }) }),
      },
    },
    async (req, reply) => {
      const { token, name } = req.params;
      const { deployment } = await installTokens.resolve(token, req.ip);
      return sendInstallFile(req, reply, deployment, name);
    },
  );

  app.get(
    '/node/secrets',
    {
      config: { access: 'node' },
      schema: {
        tags: ['node'],
        summary: "This host's crypted root password and authorized keys (Accept: text/plain for lines)",
      },
    },
    async (req, reply) => {
      // Secrets never travel over plain HTTP (which exists only for firmware).
      if (secretsNeedTls && req.protocol !== 'https')
        throw new KilnError(
          'forbidden',
          'node secrets are served over HTTPS only; call kiln.apiUrl (https://…), not the plain HTTP boot URL',
        );
      const s = await secrets.forHost(nodeOf(req).hostId);
      await secrets.recordFetch(nodeOf(req));
      if ((req.headers.accept ?? '').includes('text/plain')) {
        const lines = [
          ...(s.rootPasswordHash ? [`root-password-hash ${s.rootPasswordHash}`] : []),
          ...s.authorizedKeys.map((k: string) => `authorized-key ${k}`),
        ];
        return reply.type('text/plain; charset=utf-8').send(lines.join('\n') + (lines.length ? '\n' : ''));
      }
      return s;
    },
  );
};

/** Operator routes about node trust: re-arm enrolment, revoke a credential. */
export const nodeAdminRoutes: FastifyPluginAsyncTypebox<{ node: NodeService; inventory: InventoryService }> = async (
  app,
  { node, inventory },
) => {
  const Params = Type.Object({ host: Type.String() });
  const Body = Type.Object({ reason: Type.Optional(Type.String({ maxLength: 500 })) }, { additionalProperties: false });
  app.post(
    '/hosts/:host/rearm',
    {
      config: { access: 'operator' },
      schema: {
        tags: ['hosts', 'node'],
        summary: 'Allow the host to enrol once more (e.g. after a motherboard swap)',
        params: Params,
        body: Body,
        response: { 200: Ok },
      },
    },
    async (req) => {
      const h = await inventory.getHost(req.params.host);
      await node.arm(h.id, req.body.reason ?? 'operator re-armed', actorOf(req.principal));
      return { ok: true };
    },
  );
  app.post(
    '/hosts/:host/approve',
    {
      config: { access: 'operator' },
      schema: {
        tags: ['hosts', 'node'],
        summary: "Approve the host's pending identity request (a stateless host without its identity partition)",
        params: Params,
        body: Type.Object(
          { code: Type.Optional(Type.String({ maxLength: 16, description: "the code on the node's console" })) },
          { additionalProperties: false },
        ),
        response: { 200: Type.Object({ ok: Type.Boolean(), code: Type.String(), ip: Type.String() }) },
      },
    },
    async (req) => {
      const h = await inventory.getHost(req.params.host);
      return { ok: true, ...(await node.approveIdentity(h.id, actorOf(req.principal), req.body.code)) };
    },
  );
  app.post(
    '/hosts/:host/credential/revoke',
    {
      config: { access: 'operator' },
      schema: {
        tags: ['hosts', 'node'],
        summary: "Revoke the host's node credential",
        params: Params,
        body: Body,
        response: { 200: Ok },
      },
    },
    async (req) => {
      const h = await inventory.getHost(req.params.host);
      await node.revoke(h.id, actorOf(req.principal), req.body.reason ?? 'operator revoked');
      return { ok: true };
    },
  );
};

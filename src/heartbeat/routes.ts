import { createHash } from 'node:crypto';
import { Type } from '@sinclair/typebox';
import type { FastifyPluginAsyncTypebox } from '../api/type-provider.js';
import { KilnError } from '../error/kiln-error.js';
import type { HealthReport } from './health-model.js';
import { HealthReply, HeartbeatBody, HeartbeatReplySchema } from './heartbeat-schemas.js';
import type { HeartbeatReply, HeartbeatService } from './heartbeat-service.js';

/** The wire body as the model's report: absent optional parts become empty or null. */
export function reportOf(b: HeartbeatBody): HealthReport {
  return {
    bootId: b.bootId.toLowerCase(),
    uptimeSeconds: b.uptimeSeconds,
    kernel: b.kernel ?? '',
    load: b.load ?? [],
    memory: b.memory ?? null,
    disks: b.disks ?? [],
    failedUnits: b.failedUnits ?? null,
    machineChecks: b.machineChecks ?? null,
    edac: b.edac ?? null,
    smart: b.smart ?? null,
    session: b.session || null,
    agentVersion: b.agentVersion ?? 0,
  };
}

/** The controllers a heartbeat agent fails over across: every healthy member, the answering one first. */
interface MemberUrls {
  urls: readonly string[];
  apiUrls: readonly string[];
}

/** Every member's TLS CA bundle for an agent whose ca.pem is another: its SHA-256 (hex), and itself in base64. */
interface CaUpdate {
  caSha256?: string;
  ca?: string;
}

/** The CA update for an agent that sent `theirs` (none when it sent none: an older agent, or no ca.pem). */
export function caUpdate(bundle: string | undefined, theirs: string | undefined): CaUpdate {
  if (bundle === undefined || theirs === undefined) return {};
  const sha = createHash('sha256').update(bundle).digest('hex');
  return sha === theirs ? { caSha256: sha } : { caSha256: sha, ca: Buffer.from(bundle).toString('base64') };
}

/**
 * The reply as lines for a shell agent: `interval N`, `audit 0|1`,
 * `krl-sha256 HEX`, `krl BASE64` when it changed, `ab-switch 1` when
 * `kiln host rollback` asked an A/B host to boot its other slot, and one
 * `url BASE` and `api-url URL` line per healthy member (its failover lists;
 * only URLs without blanks, each a line of its own), and `ca-sha256 HEX` with
 * `ca BASE64` when the agent's ca.pem is not every member's CA bundle.
 */
export function formatHeartbeatReply(
  r: HeartbeatReply & { abSwitch?: boolean } & Partial<MemberUrls> & CaUpdate,
): string {
  const plain = (u: string) => !/\s/.test(u);
  return [
    `interval ${r.intervalSeconds}`,
    `audit ${r.audit ? 1 : 0}`,
    `krl-sha256 ${r.krlSha256}`,
    ...(r.krl !== null ? [`krl ${r.krl}`] : []),
    ...(r.abSwitch === true ? ['ab-switch 1'] : []),
    ...(r.urls ?? []).filter(plain).map((u) => `url ${u}`),
    ...(r.apiUrls ?? []).filter(plain).map((u) => `api-url ${u}`),
    ...(r.caSha256 !== undefined ? [`ca-sha256 ${r.caSha256}`] : []),
    ...(r.ca !== undefined ? [`ca ${r.ca}`] : []),
    '',
  ].join('\n');
}

/** POST /api/v1/node/heartbeat (a node credential only) and GET /api/v1/hosts/{host}/health (viewer). */
export const heartbeatRoutes: FastifyPluginAsyncTypebox<{
  heartbeat: HeartbeatService;
  /** The host; throws not_found for an unknown one. */
  host: (idOrName: string) => Promise<{ id: string; name: string }>;
  /** An agent file by its installed name, or null (agent-files.ts). */
  agentFile: (name: string) => Promise<string | null>;
  /** Layout ab: takes the host's A/B report (records deploy.rolled_back); says whether a rollback waits for it. */
  abReported?: (
    host: { id: string; name: string },
    ab: { slot: string | null; good: string | null; fellBack: string | null },
  ) => Promise<{ switchSlot: boolean }>;
  /** Every healthy member's URLs for the agent's failover lists (cached by the caller); absent: none sent. */
  members?: () => MemberUrls;
  /** Every member's TLS CA bundle (PEM, cached by the caller), sent to an agent whose ca.pem differs; absent: never. */
  caBundle?: () => string;
}> = async (app, { heartbeat, host, agentFile, abReported, members, caBundle }) => {
  app.get(
    '/node/agent/:name',
    {
      config: { access: 'node' },
      schema: {
        tags: ['node'],
        summary:
          'One file of the heartbeat agent (kiln-heartbeat, its systemd service and timer, lib.sh, net.sh, facts.sh), for the late step to install',
        params: Type.Object({ name: Type.String({ maxLength: 64 }) }),
      },
    },
    async (req, reply) => {
      const text = await agentFile(req.params.name);
      if (text === null)
        throw new KilnError(
          'not_found',
          `no agent file ${req.params.name}; there are: lib.sh, net.sh, facts.sh, kiln-heartbeat, kiln-heartbeat.service, kiln-heartbeat.timer`,
        );
      return reply.type('text/plain; charset=utf-8').send(text);
    },
  );

  app.post(
    '/node/heartbeat',
    {
      config: { access: 'node' },
      schema: {
        tags: ['node'],
        summary:
          "An installed host's heartbeat and health; the reply names the next interval, asks for facts when a re-audit is due, and carries the SSH KRL (Accept: text/plain for lines)",
        body: HeartbeatBody,
        response: { 200: HeartbeatReplySchema },
      },
    },
    async (req, reply) => {
      const p = req.principal;
      if (p?.kind !== 'node') throw new KilnError('credential_invalid', 'this call needs a node credential');
      const b = req.body;
      const answer = await heartbeat.receive(
        { id: p.hostId, name: p.hostName },
        { report: reportOf(b), facts: b.facts, krlSha256: b.krlSha256 },
        req.ip,
      );
      const ab = b.ab && abReported ? await abReported({ id: p.hostId, name: p.hostName }, b.ab) : undefined;
      const m = members?.();
      const full = {
        ...answer,
        ...(ab?.switchSlot ? { abSwitch: true } : {}),
        ...(m ? { urls: [...m.urls], apiUrls: [...m.apiUrls] } : {}),
        ...caUpdate(caBundle?.(), b.caSha256),
      };
      // A string body is sent as it is (the JSON schema serializes objects only); the cast is for the route's type.
      if ((req.headers.accept ?? '').includes('text/plain'))
        return reply.type('text/plain; charset=utf-8').send(formatHeartbeatReply(full) as unknown as HeartbeatReply);
      return full;
    },
  );

  app.get(
    '/hosts/:host/health',
    {
      config: { access: 'viewer' },
      schema: {
        tags: ['hosts'],
        summary: "A host's last heartbeat: status (never, ok, late, unreachable), last seen, boot and health report",
        params: Type.Object({ host: Type.String({ description: 'host id or name' }) }),
        response: { 200: HealthReply },
      },
    },
    async (req) => heartbeat.health(await host(req.params.host)),
  );
};

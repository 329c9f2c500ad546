import type { FastifyPluginAsyncTypebox } from '../api/type-provider.js';
import { Type } from '@sinclair/typebox';
import { actorOf } from '../api/role.js';
import { KilnError } from '../error/kiln-error.js';
import type { InventoryService } from '../inventory/inventory-service.js';
import type { SshService } from './ssh-service.js';

const isStringList = (v: unknown): v is string[] => Array.isArray(v) && v.every((x) => typeof x === 'string');

/**
 * The host keys of a text/plain body (one per line, `#` comments) or a JSON
 * `{"publicKeys": [...]}`; the route has no body schema because it takes both.
 */
function keyLinesOf(body: unknown): string[] {
  if (typeof body === 'string')
    return body
      .split('\n')
      .map((l) => l.trim())
      .filter((l) => l && !l.startsWith('#'));
  if (typeof body === 'object' && body !== null && 'publicKeys' in body && isStringList(body.publicKeys))
    return body.publicKeys;
  throw new KilnError(
    'validation_failed',
    'send the public host keys as text/plain, one per line, or JSON {"publicKeys": [...]}',
  );
}

/** SSH CA routes: node host certificates, known_hosts line, KRL, user certificates, revocation. */
export const sshRoutes: FastifyPluginAsyncTypebox<{
  ssh: SshService;
  inventory: InventoryService;
  /**
   * The addresses a host's certificate names besides its names: where its
   * node last called from, and the static addresses its deployment's machine
   * description gives the installed system (ssh to those must verify too).
   */
  addresses: (hostId: string) => Promise<string[]>;
}> = async (app, { ssh, inventory, addresses }) => {
  app.post(
    '/node/ssh/host-certificates',
    {
      config: { access: 'node' },
      schema: {
        tags: ['node', 'ssh'],
        summary: "Sign this node's public host keys (text/plain lines or JSON); answers one certificate per line",
      },
    },
    async (req, reply) => {
      if (req.principal?.kind !== 'node') throw new KilnError('credential_invalid', 'needs a node credential');
      const certs = await ssh.signHostKeys(
        req.principal.hostId,
        keyLinesOf(req.body),
        await addresses(req.principal.hostId),
      );
      if (typeof req.body === 'string' || (req.headers.accept ?? '').includes('text/plain'))
        return reply.type('text/plain; charset=utf-8').send(certs.join('\n') + '\n');
      return { certificates: certs };
    },
  );
  app.get(
    '/ssh/known-hosts',
    {
      config: { access: 'viewer' },
      schema: {
        tags: ['ssh'],
        summary: "The @cert-authority lines that trust every Kiln host: one per controller's SSH CA",
      },
    },
    async (_req, reply) => reply.type('text/plain; charset=utf-8').send(`${ssh.knownHostsLines().join('\n')}\n`),
  );
  // The KRL lists revoked serials only (no secret): nodes fetch it without a credential for sshd's RevokedKeys.
  app.get(
    '/ssh/revoked-keys',
    {
      config: { access: 'public' },
      schema: { tags: ['ssh'], summary: 'KRL of revoked certificates (sshd RevokedKeys / ssh RevokedHostKeys)' },
    },
    async (_req, reply) => reply.type('application/octet-stream').send(Buffer.from(await ssh.krl())),
  );
  app.get(
    '/ssh/certificates',
    {
      config: { access: 'viewer' },
      schema: {
        tags: ['ssh'],
        summary: 'Issued certificates',
        querystring: Type.Object({ host: Type.Optional(Type.String()) }, { additionalProperties: false }),
      },
    },
    async (req) => {
      const h = req.query.host;
      return { items: await ssh.list(h ? (await inventory.getHost(h)).id : undefined) };
    },
  );
  app.post(
    '/ssh/certificates/:serial/revoke',
    {
      config: { access: 'operator' },
      schema: {
        tags: ['ssh'],
        summary: 'Revoke one certificate',
        params: Type.Object({ serial: Type.Integer({ minimum: 1 }) }),
        body: Type.Object({ reason: Type.Optional(Type.String({ maxLength: 500 })) }, { additionalProperties: false }),
      },
    },
    async (req) => ({
      revoked: await ssh.revoke(
        { serial: req.params.serial },
        actorOf(req.principal),
        req.body.reason ?? 'operator revoked',
      ),
    }),
  );
  app.post(
    '/hosts/:host/ssh/revoke',
    {
      config: { access: 'operator' },
      schema: {
        tags: ['ssh'],
        summary: 'Revoke every certificate of a host',
        params: Type.Object({ host: Type.String() }),
        body: Type.Object({ reason: Type.Optional(Type.String({ maxLength: 500 })) }, { additionalProperties: false }),
      },
    },
    async (req) => {
      const h = await inventory.getHost(req.params.host);
      return {
        revoked: await ssh.revoke({ hostId: h.id }, actorOf(req.principal), req.body.reason ?? 'operator revoked'),
      };
    },
  );
  app.post(
    '/ssh/user-certificates',
    {
      config: { access: 'operator' },
      schema: {
        tags: ['ssh'],
        summary: "Sign an operator's public key as a user certificate",
        body: Type.Object(
          {
            publicKey: Type.String({ maxLength: 16384 }),
            principals: Type.Array(Type.String({ minLength: 1, maxLength: 255 }), { minItems: 1, maxItems: 32 }),
            validHours: Type.Optional(Type.Integer({ minimum: 1, maximum: 8760, default: 8 })),
          },
          { additionalProperties: false },
        ),
      },
    },
    async (req) => {
      const b = req.body;
      return {
        certificate: await ssh.signUserKey(b.publicKey, b.principals, b.validHours ?? 8, actorOf(req.principal)),
      };
    },
  );
};

import type { FastifyPluginAsyncTypebox } from '../api/type-provider.js';
import { Type } from '@sinclair/typebox';
import { actorOf } from '../api/role.js';
import type { InventoryService } from '../inventory/inventory-service.js';
import type { SecretsService } from './secrets-service.js';

const Body = Type.Object(
  {
    rootPassword: Type.Optional(
      Type.Union([
        Type.String({ maxLength: 1024, description: 'write-only; hashed with SHA-512 crypt at once, never stored' }),
        Type.Null(),
      ]),
    ),
    rootPasswordHash: Type.Optional(
      Type.Union([Type.String({ maxLength: 256, description: 'a crypt(3) hash ($6$…)' }), Type.Null()]),
    ),
    authorizedKeys: Type.Optional(Type.Array(Type.String({ maxLength: 16384 }), { maxItems: 256 })),
  },
  { additionalProperties: false },
);
const Reply = Type.Object({ hasRootPassword: Type.Boolean(), authorizedKeys: Type.Array(Type.String()) });

/** Root password and SSH keys for the site and per host (admin). Replies never contain a password or hash. */
export const secretsRoutes: FastifyPluginAsyncTypebox<{
  secrets: SecretsService;
  inventory: InventoryService;
}> = async (app, { secrets, inventory }) => {
  app.get(
    '/secrets/site',
    {
      config: { access: 'admin' },
      schema: {
        tags: ['secrets'],
        summary: 'Site-wide node secrets (whether a password is set; public keys)',
        response: { 200: Reply },
      },
    },
    async () => secrets.show('site'),
  );
  app.put(
    '/secrets/site',
    {
      config: { access: 'admin' },
      schema: {
        tags: ['secrets'],
        summary: 'Set the site root password (hashed now) and authorized keys',
        body: Body,
        response: { 200: Reply },
      },
    },
    async (req) => secrets.set('site', req.body, actorOf(req.principal)),
  );
  app.get(
    '/hosts/:host/secrets',
    {
      config: { access: 'admin' },
      schema: {
        tags: ['secrets'],
        summary: "A host's own secrets (overriding the site's)",
        params: Type.Object({ host: Type.String() }),
        response: { 200: Reply },
      },
    },
    async (req) => secrets.show(`host:${(await inventory.getHost(req.params.host)).id}`),
  );
  app.put(
    '/hosts/:host/secrets',
    {
      config: { access: 'admin' },
      schema: {
        tags: ['secrets'],
        summary: "Set a host's root password (hashed now) and extra keys",
        params: Type.Object({ host: Type.String() }),
        body: Body,
        response: { 200: Reply },
      },
    },
    async (req) => {
      const h = await inventory.getHost(req.params.host);
      return secrets.set(`host:${h.id}`, req.body, actorOf(req.principal), h.id);
    },
  );
};

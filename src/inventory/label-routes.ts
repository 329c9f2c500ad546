import { Type } from '@sinclair/typebox';
import { actorOf } from '../api/role.js';
import type { FastifyPluginAsyncTypebox } from '../api/type-provider.js';
import type { KilnError } from '../error/kiln-error.js';
import { HostReply } from './host-schemas.js';
import type { Host } from './host.js';
import type { InventoryService } from './inventory-service.js';

const LabelParams = Type.Object({
  host: Type.String({ minLength: 1, maxLength: 253 }),
  key: Type.String({ minLength: 1, maxLength: 63, description: 'label key ([A-Za-z0-9_.-/], percent-encode /)' }),
});

/** Attempts when another writer changes the host between our read and our write (optimistic concurrency). */
const TRIES = 5;

/**
 * One label of a host, set or removed on its own (`labeler` role and up):
 * what a hook's own token writes back (docs/hooks.md). The other labels stay
 * as they are; the change is a `host.updated` event like any edit.
 */
export const labelRoutes: FastifyPluginAsyncTypebox<{ inventory: InventoryService }> = async (app, { inventory }) => {
  async function setLabel(
    host: string,
    key: string,
    value: string | null,
    actor: string,
    reason?: string,
  ): Promise<Host> {
    for (let i = 1; ; i++) {
      const h = await inventory.getHost(host);
      const labels = { ...h.labels };
      if (value === null) delete labels[key];
      else labels[key] = value;
      try {
        return await inventory.updateHost(h.id, { labels }, { actor, reason }, h.version);
      } catch (err) {
        if (i < TRIES && (err as KilnError).code === 'precondition_failed') continue;
        throw err;
      }
    }
  }

  app.put(
    '/hosts/:host/labels/:key',
    {
      config: { access: 'labeler' },
      schema: {
        tags: ['hosts'],
        summary: 'Set one label of a host (the others stay)',
        params: LabelParams,
        body: Type.Object(
          { value: Type.String({ maxLength: 255 }), reason: Type.Optional(Type.String({ maxLength: 500 })) },
          { additionalProperties: false },
        ),
        response: { 200: HostReply },
      },
    },
    async (req) => setLabel(req.params.host, req.params.key, req.body.value, actorOf(req.principal), req.body.reason),
  );

  app.delete(
    '/hosts/:host/labels/:key',
    {
      config: { access: 'labeler' },
      schema: {
        tags: ['hosts'],
        summary: 'Remove one label of a host (absent is fine)',
        params: LabelParams,
        response: { 200: HostReply },
      },
    },
    async (req) => {
      const h = await inventory.getHost(req.params.host);
      if (!(req.params.key in h.labels)) return h;
      return setLabel(req.params.host, req.params.key, null, actorOf(req.principal));
    },
  );
};

import { Type } from '@sinclair/typebox';
import { actorOf } from '../api/role.js';
import type { FastifyPluginAsyncTypebox } from '../api/type-provider.js';
import { KilnError } from '../error/kiln-error.js';
import type { NewEvent } from '../event/event.js';
import type { Manifest } from './objects/manifest.js';
import { parseListing, verifyRoot } from './objects/verify-root.js';

/** Most paths of each kind an event and an answer carry (the counts are always whole). */
const SAMPLE = 50;

/** What the verify route needs of the inventory and the image catalog. */
export interface VerifyRouteDeps {
  getHost(idOrName: string): Promise<{ id: string; name: string }>;
  recordEvent(e: NewEvent): Promise<void>;
  manifest(id: string): Promise<Manifest | null>;
}

const Report = Type.Object({
  host: Type.String(),
  image: Type.String(),
  checked: Type.Integer(),
  added: Type.Integer(),
  changed: Type.Integer(),
  missing: Type.Integer(),
  unparsed: Type.Integer(),
  samples: Type.Object({
    added: Type.Array(Type.String()),
    changed: Type.Array(Type.Object({ path: Type.String(), what: Type.Array(Type.String()) })),
    missing: Type.Array(Type.String()),
  }),
});

/**
 * POST /api/v1/hosts/{host}/verify: the host's root listing (node/verify/
 * kiln-verify-list.sh, which `kiln host verify` runs over SSH) compared with
 * the manifest of the image it names (/etc/kiln/image-id, written by the
 * image writer); the result is a `host.verified` event and the answer.
 */
export const verifyRoutes: FastifyPluginAsyncTypebox<VerifyRouteDeps> = async (app, deps) => {
  app.post(
    '/hosts/:host/verify',
    {
      bodyLimit: 64 << 20,
      config: { access: 'operator' },
      schema: {
        tags: ['hosts', 'images'],
        summary: "Checks a host's installed root against its image manifest; records a host.verified event",
        params: Type.Object({ host: Type.String({ minLength: 1, maxLength: 253 }) }),
        body: Type.Object(
          { listing: Type.String({ minLength: 1, maxLength: 60 << 20 }) },
          { additionalProperties: false },
        ),
        response: { 200: Report },
      },
    },
    async (req) => {
      const host = await deps.getHost(req.params.host);
      let listing;
      try {
        listing = parseListing(req.body.listing);
      } catch (err) {
        throw new KilnError(
          'validation_failed',
          `listing: ${(err as Error).message}; produce it with kiln host verify`,
        );
      }
      if (!listing.imageId)
        throw new KilnError(
          'not_found',
          `${host.name} names no image (/etc/kiln/image-id): it was not installed from an image with a manifest; deploy it again`,
        );
      const manifest = await deps.manifest(listing.imageId);
      if (!manifest)
        throw new KilnError(
          'not_found',
          `image ${listing.imageId} of ${host.name} is not in the controller's image store`,
        );
      const r = verifyRoot(manifest, listing);
      const report = {
        host: host.name,
        image: listing.imageId,
        checked: r.checked,
        added: r.added.length,
        changed: r.changed.length,
        missing: r.missing.length,
        unparsed: listing.unparsed,
        samples: {
          added: r.added.slice(0, SAMPLE),
          changed: r.changed.slice(0, SAMPLE),
          missing: r.missing.slice(0, SAMPLE),
        },
      };
      const clean = r.added.length + r.changed.length + r.missing.length === 0;
      await deps.recordEvent({
        actor: actorOf(req.principal),
        kind: 'host.verified',
        hostId: host.id,
        subject: host.name,
        message: clean
          ? `root matches image ${listing.imageId.slice(0, 12)} (${r.checked} paths)`
          : `root differs from image ${listing.imageId.slice(0, 12)}: ${r.added.length} added, ${r.changed.length} changed, ${r.missing.length} missing`,
        data: report,
      });
      return report;
    },
  );
};

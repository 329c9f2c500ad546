import type { FastifyPluginAsyncTypebox } from '../api/type-provider.js';
import { Type } from '@sinclair/typebox';
import { KilnError } from '../error/kiln-error.js';
import type { ImageStore, OsImage } from './image-store.js';

const ImageReply = Type.Object({
  name: Type.String(),
  file: Type.String(),
  sha256: Type.String(),
  format: Type.String(),
  sizeBytes: Type.Integer(),
  addedAt: Type.String(),
  manifest: Type.Optional(
    Type.String({ description: 'image id: SHA-256 of the manifest, served at /images/manifests/<id>' }),
  ),
  entries: Type.Optional(Type.Integer()),
  files: Type.Optional(Type.Integer()),
  fetchedFrom: Type.Optional(
    Type.String({ description: 'the member this record was taken from; absent when the image was imported here' }),
  ),
});

/** OS images the image writer can install (added on the controller with `kiln image add`). */
export const imageRoutes: FastifyPluginAsyncTypebox<{
  images: ImageStore;
  /** The image of that name: here, or taken from the member that imported it (peer-images.ts); null when none has it. */
  imageNamed: (name: string) => Promise<OsImage | null>;
}> = async (app, { images, imageNamed }) => {
  app.get(
    '/images',
    {
      config: { access: 'viewer' },
      schema: {
        tags: ['images'],
        summary: 'OS images in the store',
        response: { 200: Type.Object({ items: Type.Array(ImageReply) }) },
      },
    },
    async () => ({ items: images.list() }),
  );
  app.get(
    '/images/:name',
    {
      config: { access: 'viewer' },
      schema: {
        tags: ['images'],
        summary: "one image's record: this member's, or the record of the member that imported it",
        params: Type.Object({ name: Type.String({ maxLength: 63 }) }),
        response: { 200: ImageReply },
      },
    },
    async (req) => {
      const image = await imageNamed(req.params.name);
      if (!image) throw new KilnError('not_found', `no image ${JSON.stringify(req.params.name)} on any member`);
      return image;
    },
  );
};

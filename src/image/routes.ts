import type { FastifyPluginAsyncTypebox } from '../api/type-provider.js';
import { Type } from '@sinclair/typebox';
import type { ImageStore } from './image-store.js';

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
});

/** OS images the image writer can install (added on the controller with `kiln image add`). */
export const imageRoutes: FastifyPluginAsyncTypebox<{ images: ImageStore }> = async (app, { images }) => {
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
};

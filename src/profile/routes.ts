import type { FastifyPluginAsyncTypebox } from '../api/type-provider.js';
import { Type } from '@sinclair/typebox';
import { KilnError } from '../error/kiln-error.js';
import type { ProfileCatalog } from './profile-catalog.js';
import { summarizeProfile } from './profile-summary.js';

const Issue = Type.Object({ path: Type.String(), code: Type.String(), message: Type.String() });

/** Profiles under /api/v1/profiles: list, show, validate, reload. */
export const profileRoutes: FastifyPluginAsyncTypebox<{ profiles: ProfileCatalog }> = async (app, { profiles }) => {
  app.get(
    '/profiles',
    {
      config: { access: 'viewer' },
      schema: { tags: ['profiles'], summary: 'Loaded profiles, and the ones that failed validation' },
    },
    async () => ({
      items: profiles.list().map(summarizeProfile),
      invalid: profiles.errors().map((e) => ({ message: e.message, issues: e.issues })),
    }),
  );
  app.get(
    '/profiles/:name',
    {
      config: { access: 'viewer' },
      schema: { tags: ['profiles'], summary: 'One profile', params: Type.Object({ name: Type.String() }) },
    },
    async (req) => {
      const name = req.params.name;
      const p = profiles.get(name);
      if (!p)
        throw new KilnError(
          'not_found',
          `no loaded profile named ${name}; see \`kiln profile list\` (a profile that fails validation is not loaded)`,
        );
      return summarizeProfile(p);
    },
  );
  app.post(
    '/profiles/validate',
    {
      config: { access: 'viewer' },
      schema: {
        tags: ['profiles'],
        summary: 'Validate every profile directory now',
        response: {
          200: Type.Object({
            items: Type.Array(Type.Object({ name: Type.String(), ok: Type.Boolean(), issues: Type.Array(Issue) })),
          }),
        },
      },
    },
    async () => ({ items: await profiles.validateAll() }),
  );
  app.post(
    '/profiles/reload',
    {
      config: { access: 'operator' },
      schema: { tags: ['profiles'], summary: 'Reload profiles from disk (invalid ones are left out and reported)' },
    },
    async () => {
      const r = await profiles.reload();
      return { loaded: r.loaded, invalid: r.errors.map((e) => ({ message: e.message, issues: e.issues })) };
    },
  );
};

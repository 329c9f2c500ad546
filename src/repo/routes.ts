import { Type } from '@sinclair/typebox';
import type { FastifyPluginAsyncTypebox } from '../api/type-provider.js';
import type { RepoCheck } from './check-repo.js';

const CheckedSet = Type.Object({
  profile: Type.String(),
  variant: Type.String(),
  suite: Type.String(),
  debArch: Type.String(),
  ok: Type.Boolean(),
  packages: Type.Integer(),
  missing: Type.Array(Type.String()),
  problems: Type.Array(Type.String()),
});
const RepoCheckReply = Type.Object({ ok: Type.Boolean(), sets: Type.Array(CheckedSet) });

/**
 * GET /api/v1/repo/check (viewer): `kiln repo check` on the controller: every
 * profile's package sets simulated against the published subset alone.
 */
export const repoRoutes: FastifyPluginAsyncTypebox<{ check: () => Promise<RepoCheck> }> = async (app, { check }) => {
  app.get(
    '/repo/check',
    {
      config: { access: 'viewer' },
      schema: {
        tags: ['repo'],
        summary:
          "Whether each profile's package set installs from the repo subset alone (apt simulation), and what is missing",
        response: { 200: RepoCheckReply },
      },
    },
    async () => check(),
  );
};

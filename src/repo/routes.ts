import { Type } from '@sinclair/typebox';
import type { FastifyPluginAsyncTypebox } from '../api/type-provider.js';
import type { RepoCheck } from './check-repo.js';
import type { PeerTreeReport } from './peer-tree.js';

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

const PeerSyncReply = Type.Object({
  peer: Type.String(),
  peerKey: Type.String(),
  suites: Type.Array(
    Type.Object({ suite: Type.String(), indexes: Type.Integer(), packages: Type.Integer(), bytes: Type.Integer() }),
  ),
  fetched: Type.Integer(),
  fetchedBytes: Type.Integer(),
  installers: Type.Array(
    Type.Object({
      profile: Type.String(),
      kernel: Type.String(),
      initrd: Type.String(),
      kernelAbi: Type.Union([Type.String(), Type.Null()]),
    }),
  ),
  seconds: Type.Number(),
});

/**
 * GET /api/v1/repo/check (viewer): `kiln repo check` on the controller: every
 * profile's package sets simulated against the published subset alone.
 * POST /api/v1/repo/peer-sync (admin): `kiln repo sync --from-peer`, present
 * on a member of a shared store (src/repo/repo-members.ts).
 */
export const repoRoutes: FastifyPluginAsyncTypebox<{
  check: () => Promise<RepoCheck>;
  syncFromPeer?: (peer?: string) => Promise<PeerTreeReport>;
}> = async (app, { check, syncFromPeer }) => {
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
  if (!syncFromPeer) return;
  app.post(
    '/repo/peer-sync',
    {
      config: { access: 'admin' },
      schema: {
        tags: ['repo'],
        summary:
          "Re-publish another member's repo subset under this member's key: its InRelease verified with its key from the store, every index and package by SHA-256; nothing published unless all verify",
        body: Type.Object(
          {
            peer: Type.Optional(
              Type.String({
                minLength: 1,
                maxLength: 128,
                description:
                  'the member name (kiln controller list); default: the first running member with a repo key',
              }),
            ),
          },
          { additionalProperties: false },
        ),
        response: { 200: PeerSyncReply },
      },
    },
    async (req) => syncFromPeer(req.body.peer),
  );
};

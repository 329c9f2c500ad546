import { Type } from '@sinclair/typebox';
import { actorOf } from '../api/role.js';
import type { FastifyPluginAsyncTypebox } from '../api/type-provider.js';
import type { MemberTrust } from './member-trust.js';

const MemberCa = Type.Object({
  name: Type.String(),
  sshFingerprint: Type.String(),
  sshCaPublicKey: Type.String(),
  tlsCaFingerprint: Type.String(),
  addedAt: Type.String(),
  addedBy: Type.String(),
  lastStartedAt: Type.Union([Type.String(), Type.Null()]),
  repoKeyFingerprint: Type.Union([Type.String(), Type.Null()]),
  self: Type.Boolean(),
});

/**
 * Joining controllers (docs/cluster.md "Joining"): join tokens and the join
 * itself (admin), the members' CAs (viewer) and their TLS CA bundle (public:
 * certificates only, what nodes and a joining controller verify with).
 */
export const joinRoutes: FastifyPluginAsyncTypebox<{ trust: MemberTrust }> = async (app, { trust }) => {
  app.post(
    '/controllers/join-tokens',
    {
      config: { access: 'admin' },
      schema: {
        tags: ['controllers'],
        summary: 'A one-time token that lets one controller join (shown once; stored hashed)',
        body: Type.Object(
          { ttlMinutes: Type.Optional(Type.Integer({ minimum: 1, maximum: 1440, default: 15 })) },
          { additionalProperties: false },
        ),
        response: { 200: Type.Object({ token: Type.String(), id: Type.String(), expiresAt: Type.String() }) },
      },
    },
    async (req) => trust.createJoinToken(actorOf(req.principal), req.body.ttlMinutes ?? 15),
  );
  app.post(
    '/controllers/join',
    {
      config: { access: 'admin' },
      schema: {
        tags: ['controllers'],
        summary:
          "Admit a controller: spend its join token, register its CAs' public keys, wrap the data key to its one-time key",
        body: Type.Object(
          {
            token: Type.String({ maxLength: 200 }),
            name: Type.String({ minLength: 1, maxLength: 128 }),
            sshCaPublicKey: Type.String({ maxLength: 1000 }),
            tlsCaPem: Type.String({ maxLength: 16384 }),
            wrapPublicKey: Type.String({ maxLength: 64 }),
          },
          { additionalProperties: false },
        ),
        response: {
          200: Type.Object({
            wrapped: Type.Object({
              v: Type.Literal(1),
              epk: Type.String(),
              iv: Type.String(),
              tag: Type.String(),
              ct: Type.String(),
            }),
            context: Type.String(),
            members: Type.Array(MemberCa),
          }),
        },
      },
    },
    async (req) => trust.join(req.body, actorOf(req.principal)),
  );
  app.get(
    '/controllers/cas',
    {
      config: { access: 'viewer' },
      schema: {
        tags: ['controllers'],
        summary:
          "Every member's SSH CA and TLS CA (public halves) and its repo key's fingerprint, this controller's first",
        response: { 200: Type.Object({ items: Type.Array(MemberCa) }) },
      },
    },
    async () => ({ items: trust.list() }),
  );
  app.get(
    '/controllers/ca-bundle',
    {
      config: { access: 'public' },
      schema: { tags: ['controllers'], summary: "Every member's TLS CA certificate (PEM), this controller's first" },
    },
    async (_req, reply) => reply.type('application/x-pem-file').send(trust.tlsCaBundle()),
  );
};

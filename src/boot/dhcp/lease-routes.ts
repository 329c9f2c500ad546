import type { FastifyPluginAsyncTypebox } from '../../api/type-provider.js';
import { Type } from '@sinclair/typebox';
import ipaddr from 'ipaddr.js';
import { KilnError } from '../../error/kiln-error.js';
import { normalizeMac } from '../../net/mac.js';
import type { Lease } from './lease-store.js';
import { ipToNumber } from './subnet-math.js';

const LeaseReply = Type.Object({
  ip: Type.String(),
  mac: Type.String(),
  subnet: Type.String(),
  hostname: Type.Union([Type.String(), Type.Null()]),
  state: Type.Union([Type.Literal('bound'), Type.Literal('declined')]),
  expiresAt: Type.String({ description: 'ISO 8601; a lease past this time frees its address' }),
  active: Type.Boolean({ description: 'not yet expired' }),
});

const LeaseListQuery = Type.Object(
  {
    subnet: Type.Optional(Type.String({ description: 'subnet CIDR as configured, e.g. 10.20.0.0/24' })),
    mac: Type.Optional(Type.String({ description: 'client MAC (any common notation)' })),
    ip: Type.Optional(Type.String({ description: 'one address' })),
    state: Type.Optional(Type.Union([Type.Literal('bound'), Type.Literal('declined')])),
    all: Type.Optional(Type.Boolean({ description: 'include expired leases (default: active only)' })),
    limit: Type.Optional(Type.Integer({ minimum: 1, maximum: 100_000, default: 10_000 })),
  },
  { additionalProperties: false },
);

/** True for `a.b.c.d/n` with four decimal octets 0–255 and a prefix 0–32. */
function isIpv4Cidr(text: string): boolean {
  const m = /^([^/]+)\/(\d{1,2})$/.exec(text);
  return !!m && ipaddr.IPv4.isValidFourPartDecimal(m[1]) && Number(m[2]) <= 32;
}

/** The DHCP lease table (durable, shared by every controller on one store) under /api/v1/leases; read only. */
export const leaseRoutes: FastifyPluginAsyncTypebox<{
  listLeases: (subnet?: string) => Promise<Lease[]>;
  now?: () => Date;
}> = async (app, { listLeases, now }) => {
  app.get(
    '/leases',
    {
      config: { access: 'viewer' },
      schema: {
        tags: ['dhcp'],
        summary: 'DHCP leases, ordered by address; active ones unless all=true',
        querystring: LeaseListQuery,
        response: { 200: Type.Object({ items: Type.Array(LeaseReply), total: Type.Integer() }) },
      },
    },
    async (req) => {
      const q = req.query;
      const mac = q.mac === undefined ? undefined : normalizeMac(q.mac);
      if (q.ip !== undefined && !ipaddr.IPv4.isValidFourPartDecimal(q.ip))
        throw new KilnError('validation_failed', `ip "${q.ip}" is not an IPv4 address`, {
          issues: [{ path: 'ip', code: 'bad_value', message: 'not an IPv4 address' }],
        });
      if (q.subnet !== undefined && !isIpv4Cidr(q.subnet)) {
        throw new KilnError(
          'validation_failed',
          `subnet "${q.subnet.slice(0, 64)}" is not an IPv4 CIDR such as 10.20.0.0/24`,
          { issues: [{ path: 'subnet', code: 'bad_value', message: 'not an IPv4 CIDR (a.b.c.d/0-32)' }] },
        );
      }
      const t = (now ?? (() => new Date()))().getTime();
      const items = (await listLeases(q.subnet))
        .filter(
          (l) =>
            (mac === undefined || l.mac === mac) &&
            (q.ip === undefined || l.ip === q.ip) &&
            (q.state === undefined || l.state === q.state) &&
            (q.all || l.expiresAt > t),
        )
        // Numeric address order (the store's text order puts .100 before .2).
        .sort((a, b) => ipToNumber(a.ip) - ipToNumber(b.ip));
      const limit = q.limit ?? 10_000;
      return {
        total: items.length,
        items: items.slice(0, limit).map((l) => ({
          ip: l.ip,
          mac: l.mac,
          subnet: l.subnet,
          hostname: l.hostname ?? null,
          state: l.state,
          expiresAt: new Date(l.expiresAt).toISOString(),
          active: l.expiresAt > t,
        })),
      };
    },
  );
};

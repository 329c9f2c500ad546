import { Type } from '@sinclair/typebox';
import type { KilnFastify } from '../api/type-provider.js';
import type { DoctorView, EventView, HostView, LeaseView, ProfileView } from './api-types.js';
import { doctorBody } from './health-page.js';
import { html, query } from './html.js';
import { notice } from './layout.js';
import { eventsBody } from './events-page.js';
import { hostListBody, type HostListFilter } from './host-list-page.js';
import { leasesBody } from './lease-page.js';
import { networkBody } from './network-page.js';
import { overviewBody, overviewFragment, type OverviewData } from './overview-page.js';
import { profilesBody } from './profile-page.js';
import { may, ok, orElse, sendFragment, sendPage, uiRoute, uiUser, type UiDeps, type UiUser } from './ui-request.js';

const Text = (n = 253) => Type.Optional(Type.String({ maxLength: n }));
const NETWORK_HOSTS = 10_000;

async function overviewData(
  u: UiUser,
  deps: Pick<UiDeps, 'countHostsByState' | 'unreachableHosts' | 'states'>,
): Promise<OverviewData> {
  const [counts, attention, stalled, recent] = await Promise.all([
    deps.countHostsByState(),
    u.api('GET', '/api/v1/hosts?attention=true&limit=10'),
    u.api('GET', '/api/v1/events?kind=boot.stalled&order=desc&limit=10'),
    u.api('GET', '/api/v1/events?kind=host.&order=desc&limit=10'),
  ]);
  const att = ok<{ items: HostView[]; next: string | null }>(attention);
  return {
    counts,
    states: deps.states,
    attention: att.items,
    moreAttention: att.next !== null,
    stalled: ok<{ items: EventView[] }>(stalled).items,
    unreachable: deps.unreachableHosts(10),
    recent: ok<{ items: EventView[] }>(recent).items,
  };
}

/** The read-only pages: overview, host list, events, leases, profiles, network. */
export function readPageRoutes(app: KilnFastify, deps: UiDeps): void {
  app.get('/', { config: uiRoute, schema: { tags: ['ui'] } }, async (req, reply) => {
    const u = uiUser(app, req);
    const body = overviewBody(await overviewData(u, deps));
    return sendPage(reply, { title: 'Fleet overview', viewer: u.viewer, current: '/', body });
  });
  app.get('/ui/fragments/overview', { config: uiRoute, schema: { tags: ['ui'] } }, async (req, reply) =>
    sendFragment(reply, overviewFragment(await overviewData(uiUser(app, req), deps))),
  );

  app.get(
    '/ui/hosts',
    {
      config: uiRoute,
      schema: {
        tags: ['ui'],
        querystring: Type.Object({
          state: Text(20),
          tag: Text(63),
          mac: Text(64),
          prefix: Text(),
          attention: Text(5),
          after: Text(400),
        }),
      },
    },
    async (req, reply) => {
      const u = uiUser(app, req);
      const f: HostListFilter = req.query;
      const a = await u.api(
        'GET',
        `/api/v1/hosts${query({ ...f, attention: f.attention === 'true' ? 'true' : undefined, limit: 100 })}`,
      );
      const page = orElse<{ items: HostView[]; next: string | null }>(a, { items: [], next: null });
      const error =
        a.status === 200
          ? undefined
          : notice('error', (a.body as { error?: { message?: string } })?.error?.message ?? `HTTP ${a.status}`);
      return sendPage(reply, {
        title: 'Hosts',
        viewer: u.viewer,
        current: '/ui/hosts',
        status: a.status === 200 ? 200 : 400,
        body: hostListBody({ filter: f, states: deps.states, hosts: page.items, next: page.next, error }),
      });
    },
  );

  app.get(
    '/ui/events',
    {
      config: uiRoute,
      schema: {
        tags: ['ui'],
        querystring: Type.Object({
          kind: Text(100),
          host: Text(100),
          before: Type.Optional(Type.Integer({ minimum: 1 })),
        }),
      },
    },
    async (req, reply) => {
      const u = uiUser(app, req);
      const q = req.query;
      const page = ok<{ items: EventView[] }>(
        await u.api(
          'GET',
          `/api/v1/events${query({ kind: q.kind, host: q.host, before: q.before, order: 'desc', limit: 100 })}`,
        ),
      );
      const older = page.items.length === 100 ? page.items[99].seq : null;
      const body = eventsBody({ kind: q.kind ?? '', host: q.host ?? '', events: page.items, older });
      return sendPage(reply, { title: 'Events', viewer: u.viewer, current: '/ui/events', body });
    },
  );

  app.get('/ui/leases', { config: uiRoute, schema: { tags: ['ui'] } }, async (req, reply) => {
    const u = uiUser(app, req);
    const leases = ok<{ items: LeaseView[] }>(await u.api('GET', '/api/v1/leases?limit=10000')).items;
    return sendPage(reply, {
      title: 'Leases by subnet',
      viewer: u.viewer,
      current: '/ui/leases',
      body: leasesBody(leases),
    });
  });

  app.get('/ui/profiles', { config: uiRoute, schema: { tags: ['ui'] } }, async (req, reply) => {
    const u = uiUser(app, req);
    const p = ok<{ items: ProfileView[]; invalid: Array<{ message: string }> }>(await u.api('GET', '/api/v1/profiles'));
    const body = profilesBody({
      viewer: u.viewer,
      profiles: p.items,
      invalid: p.invalid,
      validation: null,
      canPreview: may(u.viewer, 'preview'),
      preview: null,
    });
    return sendPage(reply, { title: 'Profiles', viewer: u.viewer, current: '/ui/profiles', body });
  });

  app.get('/ui/network', { config: uiRoute, schema: { tags: ['ui'] } }, async (req, reply) => {
    const u = uiUser(app, req);
    const leases = ok<{ items: LeaseView[] }>(await u.api('GET', '/api/v1/leases?limit=10000')).items;
    const hosts: HostView[] = [];
    let after: string | null = null;
    for (let i = 0; i < NETWORK_HOSTS / 1000; i++) {
      const page: { items: HostView[]; next: string | null } = ok(
        await u.api('GET', `/api/v1/hosts${query({ limit: 1000, after })}`),
      );
      hosts.push(...page.items);
      after = page.next;
      if (!after) break;
    }
    const body = networkBody({ leases, hosts, states: deps.states, truncated: after !== null });
    return sendPage(reply, { title: 'Network', viewer: u.viewer, current: '/ui/network', body: html`${body}` });
  });

  // The controller self-check (kiln doctor): every check runs now, as GET /api/v1/health/details does.
  app.get('/ui/doctor', { config: uiRoute, schema: { tags: ['ui'] } }, async (req, reply) => {
    const u = uiUser(app, req);
    const report = ok<DoctorView>(await u.api('GET', '/api/v1/health/details'));
    return sendPage(reply, { title: 'Self-check', viewer: u.viewer, current: '/ui/doctor', body: doctorBody(report) });
  });
}

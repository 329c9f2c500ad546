import { Type } from '@sinclair/typebox';
import type { KilnFastify } from '../api/type-provider.js';
import type {
  DeploymentView,
  EventView,
  HealthView,
  HostView,
  LogLineView,
  PowerView,
  SessionView,
  TimelineView,
} from './api-types.js';
import { apiErrorText } from './api-client.js';
import { html, query, seg } from './html.js';
import { healthFragment } from './health-page.js';
import { hostBody, logFragment, summaryFragment, timelineFragment, type HostPageData } from './host-page.js';
import { notice } from './layout.js';
import { may, ok, orElse, sendFragment, sendPage, uiUser, type UiUser, uiRoute } from './ui-request.js';

const Params = Type.Object({ host: Type.String({ maxLength: 253 }) });
const SessionQuery = Type.Object({
  session: Type.Optional(Type.String({ pattern: '^[0-9a-f]{12}$' })),
  done: Type.Optional(Type.String({ maxLength: 40 })),
});
const h = (name: string) => `/api/v1/hosts/${seg(name)}`;

async function summaryData(u: UiUser, host: HostView) {
  const canAct = may(u.viewer, 'deploy');
  const [profiles, power, deployments] = await Promise.all([
    canAct ? u.api('GET', '/api/v1/profiles') : null,
    host.bmc ? u.api('GET', `${h(host.name)}/power`) : null,
    // The installer's status page exists only while the host deploys.
    host.state === 'deploying' ? u.api('GET', `${h(host.name)}/deployments`) : null,
  ]);
  return {
    host,
    viewer: u.viewer,
    canAct,
    profiles: profiles
      ? orElse<{ items: Array<{ name: string }> }>(profiles, { items: [] }).items.map((p) => p.name)
      : [],
    power: power ? (power.status === 200 ? (power.body as PowerView) : { error: apiErrorText(power) }) : null,
    statusUrl: deployments
      ? (orElse<{ items: DeploymentView[] }>(deployments, { items: [] }).items[0]?.statusUrl ?? null)
      : null,
  };
}

async function timelineData(u: UiUser, host: HostView, session?: string) {
  const [sessions, timeline] = await Promise.all([
    u.api('GET', `${h(host.name)}/sessions`),
    u.api('GET', `${h(host.name)}/timeline${query({ session })}`),
  ]);
  return {
    host,
    sessions: orElse<{ items: SessionView[] }>(sessions, { items: [] }).items,
    timeline: orElse<TimelineView | null>(timeline, null),
  };
}

async function logLines(u: UiUser, host: HostView, session?: string): Promise<LogLineView[]> {
  const a = await u.api('GET', `${h(host.name)}/logs${query({ session, limit: 50 })}`);
  return orElse<{ items: LogLineView[] }>(a, { items: [] }).items;
}

/** The host page and the fragments its script refreshes; install files as plain text. */
export function hostPageRoutes(app: KilnFastify): void {
  const getHost = async (u: UiUser, name: string) => ok<HostView>(await u.api('GET', h(name)));

  app.get(
    '/ui/hosts/:host',
    { config: uiRoute, schema: { tags: ['ui'], params: Params, querystring: SessionQuery } },
    async (req, reply) => {
      const u = uiUser(app, req);
      const host = await getHost(u, req.params.host);
      const [summary, tl, change, deployments, health] = await Promise.all([
        summaryData(u, host),
        timelineData(u, host, req.query.session),
        u.api(
          'GET',
          `/api/v1/events${query({ host: host.id, kind: 'host.hardware_changed', order: 'desc', limit: 1 })}`,
        ),
        u.api('GET', `${h(host.name)}/deployments`),
        u.api('GET', `${h(host.name)}/health`),
      ]);
      const logs = await logLines(u, host, tl.timeline?.session);
      const deployment = orElse<{ items: DeploymentView[] }>(deployments, { items: [] }).items[0] ?? null;
      const data: HostPageData = {
        ...summary,
        ...tl,
        logs,
        hardwareChange: orElse<{ items: EventView[] }>(change, { items: [] }).items[0] ?? null,
        deployment: ['deploying', 'deployed'].includes(host.state) ? deployment : null,
        health: orElse<HealthView | null>(health, null),
      };
      const done = req.query.done ? notice('ok', `Done: ${req.query.done}.`) : '';
      return sendPage(reply, {
        title: `Host ${host.name}`,
        viewer: u.viewer,
        current: '/ui/hosts',
        body: html`${done}${hostBody(data)}`,
      });
    },
  );

  app.get(
    '/ui/hosts/:host/fragment/summary',
    { config: uiRoute, schema: { tags: ['ui'], params: Params } },
    async (req, reply) => {
      const u = uiUser(app, req);
      return sendFragment(reply, summaryFragment(await summaryData(u, await getHost(u, req.params.host))));
    },
  );
  app.get(
    '/ui/hosts/:host/fragment/health',
    { config: uiRoute, schema: { tags: ['ui'], params: Params } },
    async (req, reply) => {
      const u = uiUser(app, req);
      const a = await u.api('GET', `${h(req.params.host)}/health`);
      return sendFragment(reply, healthFragment(orElse<HealthView | null>(a, null)));
    },
  );
  app.get(
    '/ui/hosts/:host/fragment/timeline',
    { config: uiRoute, schema: { tags: ['ui'], params: Params, querystring: SessionQuery } },
    async (req, reply) => {
      const u = uiUser(app, req);
      const host = await getHost(u, req.params.host);
      return sendFragment(reply, timelineFragment(await timelineData(u, host, req.query.session)));
    },
  );
  app.get(
    '/ui/hosts/:host/fragment/log',
    { config: uiRoute, schema: { tags: ['ui'], params: Params, querystring: SessionQuery } },
    async (req, reply) => {
      const u = uiUser(app, req);
      const host = await getHost(u, req.params.host);
      return sendFragment(reply, logFragment(await logLines(u, host, req.query.session)));
    },
  );
  app.get(
    '/ui/hosts/:host/files/:name',
    {
      config: uiRoute,
      schema: { tags: ['ui'], params: Type.Object({ host: Type.String(), name: Type.String({ maxLength: 255 }) }) },
    },
    async (req, reply) => {
      const u = uiUser(app, req);
      const a = await u.api('GET', `${h(req.params.host)}/deployments/current/files/${seg(req.params.name)}`);
      ok(a.status === 200 ? { ...a, body: null } : a);
      // Shown as text, never interpreted: a rendered file is the host's, not Kiln's page.
      return reply.type('text/plain; charset=utf-8').header('content-disposition', 'inline').send(a.text);
    },
  );
}

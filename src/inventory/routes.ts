import type { Kysely } from 'kysely';
import type { FastifyPluginAsyncTypebox } from '../api/type-provider.js';
import type { Database } from '../schema.js';

/**
 * Revokes every unrevoked SSH certificate of a host (none is fine); called when a host is released or retired,
 * in the caller's transaction `tx` when given.
 */
export type RevokeCertificates = (
  hostId: string,
  actor: string,
  reason: string,
  tx?: Kysely<Database>,
) => Promise<void>;
import { Type } from '@sinclair/typebox';
import { actorOf } from '../api/role.js';
import { KilnError } from '../error/kiln-error.js';
import { EventListReply } from '../event/event-schemas.js';
import type { Host, Nic } from './host.js';
import {
  HostCreateBody,
  HostListQuery,
  HostListReply,
  HostParams,
  HostPatchBody,
  HostReply,
  HostStateBody,
} from './host-schemas.js';
import type { InventoryService } from './inventory-service.js';
import { decodeHostCursor, encodeHostCursor } from './host-cursor.js';
import { labelKeyPattern } from './validate-host.js';
import { normalizeMac } from '../net/mac.js';

const nicsFrom = (nics: HostCreateBody['nics']): Nic[] =>
  (nics ?? []).map((n, i) => ({
    mac: normalizeMac(n.mac, `/nics/${i}/mac`),
    name: n.name ?? null,
    boot: n.boot ?? false,
  }));

function labelFilter(label: string): { key: string; value: string } {
  const at = label.indexOf('=');
  const key = label.slice(0, at);
  if (at < 0 || !labelKeyPattern.test(key))
    throw new KilnError('bad_request', `label must be key=value with a label key such as rack=r7, got ${label}`);
  return { key, value: label.slice(at + 1) };
}

function ifMatch(header: string | undefined): number | undefined {
  if (!header) return undefined;
  const m = /^(?:W\/)?"?(\d+)"?$/.exec(header.trim());
  if (!m) throw new KilnError('bad_request', `If-Match must be a host version such as "3", got ${header}`);
  return Number(m[1]);
}

const healthScanSize = 1000;
const healthScanBatches = 20;

/** Host routes under /api/v1/hosts. */
export const hostRoutes: FastifyPluginAsyncTypebox<{
  inventory: InventoryService;
  revokeCertificates?: RevokeCertificates;
  /** A deployed host's heartbeat status from memory (the heartbeat service's `statusOf`); null: never heard. */
  healthOf?: (hostId: string) => 'ok' | 'late' | 'unreachable' | null;
}> = async (app, { inventory, revokeCertificates, healthOf }) => {
  // Each list item gets `health`: null unless deployed, `never` for a deployed host not heard from.
  const healthField = (r: { id: string; state: string }) =>
    r.state !== 'deployed' ? null : (healthOf?.(r.id) ?? 'never');
  const withEtag = (reply: { header(k: string, v: string): unknown }, h: Host) => {
    reply.header('etag', `"${h.version}"`);
    return h;
  };

  type Filter = Omit<Parameters<InventoryService['listHostDocs']>[0], 'after' | 'limit'>;
  type Row = Awaited<ReturnType<InventoryService['listHostDocs']>>[number];

  // The hosts' stored documents are the HostReply JSON already (inventory.conformance checks they equal
  // getHost): joined, not parsed and serialised again. `health` is spliced in before each document's closing
  // brace (the documents are JSON objects).
  const formatPage = (page: readonly Row[], healths: readonly (string | null)[], next: string | null): string => {
    const items = page.map((r, i) => `${r.doc.slice(0, -1)},"health":${JSON.stringify(healths[i])}}`);
    return `{"items":[${items.join(',')}],"next":${JSON.stringify(next)}}`;
  };

  /**
   * The reply body of each page the inventory holds in memory (a repeated page is the same frozen array), as
   * bytes, with the ids of its deployed hosts and the health values it was made with (every other host's health
   * is null, fixed by its row): a repeat whose health did not change sends the same bytes, and checking that
   * allocates nothing.
   */
  interface MadePage {
    body: Buffer;
    deployed: string[];
    healths: string[];
  }
  const bodies = new WeakMap<readonly Row[], MadePage>();
  const healthUnchanged = (made: MadePage): boolean => {
    for (let i = 0; i < made.deployed.length; i++)
      if ((healthOf?.(made.deployed[i]) ?? 'never') !== made.healths[i]) return false;
    return true;
  };

  // One row more than the page says whether another page follows, so the last page says next: null.
  async function plainPage(filter: Filter, after: string | undefined, limit: number): Promise<Buffer> {
    const rows = await inventory.listHostDocs({ ...filter, after, limit: limit + 1 });
    const known = bodies.get(rows);
    if (known !== undefined && healthUnchanged(known)) return known.body;
    const page = rows.slice(0, limit);
    const healths = page.map(healthField);
    const next = rows.length > limit ? encodeHostCursor(page.at(-1)!.name) : null;
    const body = Buffer.from(formatPage(page, healths, next));
    const made: MadePage = { body, deployed: [], healths: [] };
    page.forEach((r, i) => {
      const health = healths[i];
      if (health === null || health === undefined) return;
      made.deployed.push(r.id);
      made.healths.push(health);
    });
    bodies.set(rows, made);
    return body;
  }

  // Health lives in the heartbeat service's memory, not in the hosts table: deployed hosts are read in
  // batches and filtered here, at most `healthScanBatches` batches per request. A page can then come back
  // short (even empty) with a `next` that resumes after the last host read.
  async function healthPage(filter: Filter, after: string | undefined, limit: number, want: string) {
    const page: Row[] = [];
    if (filter.state !== undefined && filter.state !== 'deployed') return { page, next: null };
    let cursor = after;
    for (let batch = 0; batch < healthScanBatches; batch++) {
      const rows = await inventory.listHostDocs({ ...filter, state: 'deployed', after: cursor, limit: healthScanSize });
      for (const r of rows) {
        if (healthField(r) !== want) {
          cursor = r.name;
          continue;
        }
        if (page.length === limit) return { page, next: encodeHostCursor(page.at(-1)!.name) };
        page.push(r);
        cursor = r.name;
      }
      if (rows.length < healthScanSize) return { page, next: null };
    }
    return { page, next: cursor !== undefined ? encodeHostCursor(cursor) : null };
  }

  app.get(
    '/hosts',
    {
      config: { access: 'viewer' },
      schema: {
        tags: ['hosts'],
        summary:
          'List hosts by name (filter by state, tag, label, MAC, name prefix, profile; all given must match); `next` is the cursor of the following page, null after the last',
        querystring: HostListQuery,
        response: { 200: HostListReply },
      },
    },
    async (req, reply) => {
      const q = req.query;
      const limit = q.limit ?? 100;
      const filter = {
        state: q.state,
        tag: q.tag,
        label: q.label !== undefined ? labelFilter(q.label) : undefined,
        namePrefix: q.prefix,
        profile: q.profile,
        attention: q.attention,
        mac: q.mac !== undefined ? normalizeMac(q.mac, 'query/mac') : undefined,
      };
      const after = q.after !== undefined ? decodeHostCursor(q.after) : undefined;
      let body: Buffer | string;
      if (q.health === undefined) body = await plainPage(filter, after, limit);
      else {
        const { page, next } = await healthPage(filter, after, limit, q.health);
        body = formatPage(page, page.map(healthField), next);
      }
      // A string or bytes with a JSON type is sent as it is (no serialiser).
      return reply.type('application/json; charset=utf-8').send(body as unknown as HostListReply);
    },
  );

  app.post(
    '/hosts',
    {
      config: { access: 'operator' },
      schema: { tags: ['hosts'], summary: 'Add a host', body: HostCreateBody, response: { 201: HostReply } },
    },
    async (req, reply) => {
      const b = req.body;
      const h = await inventory.createHost(
        {
          name: b.name,
          nics: nicsFrom(b.nics),
          tags: b.tags,
          labels: b.labels,
          profile: b.profile,
          firmware: b.firmware,
          state: b.state,
          bmc: b.bmc,
        },
        { actor: actorOf(req.principal), reason: b.reason },
      );
      reply.status(201);
      return withEtag(reply, h);
    },
  );

  app.get(
    '/hosts/:host',
    {
      config: { access: 'viewer' },
      schema: { tags: ['hosts'], summary: 'Show a host', params: HostParams, response: { 200: HostReply } },
    },
    async (req, reply) => withEtag(reply, await inventory.getHost(req.params.host)),
  );

  app.patch(
    '/hosts/:host',
    {
      config: { access: 'operator' },
      schema: {
        tags: ['hosts'],
        summary: 'Edit a host (If-Match: "<version>" for optimistic concurrency)',
        params: HostParams,
        body: HostPatchBody,
        response: { 200: HostReply },
      },
    },
    async (req, reply) => {
      const b = req.body;
      const h = await inventory.updateHost(
        req.params.host,
        {
          name: b.name,
          nics: b.nics ? nicsFrom(b.nics) : undefined,
          tags: b.tags,
          labels: b.labels,
          profile: b.profile,
          firmware: b.firmware,
          bmc: b.bmc,
          needsAttention: b.needsAttention,
        },
        { actor: actorOf(req.principal), reason: b.reason },
        ifMatch(req.headers['if-match']),
      );
      return withEtag(reply, h);
    },
  );

  app.delete(
    '/hosts/:host',
    {
      config: { access: 'operator' },
      schema: {
        tags: ['hosts'],
        summary: 'Delete a host (its events stay)',
        params: HostParams,
        querystring: Type.Object(
          { reason: Type.Optional(Type.String({ maxLength: 500 })) },
          { additionalProperties: false },
        ),
      },
    },
    async (req, reply) => {
      await inventory.deleteHost(req.params.host, {
        actor: actorOf(req.principal),
        reason: req.query.reason,
      });
      return reply.status(204).send();
    },
  );

  app.post(
    '/hosts/:host/state',
    {
      config: { access: 'operator' },
      schema: {
        tags: ['hosts'],
        summary: 'Move a host to another lifecycle state (illegal moves are refused)',
        params: HostParams,
        body: HostStateBody,
        response: { 200: HostReply },
      },
    },
    async (req, reply) => {
      const b = req.body;
      // A retired host keeps no SSH trust: its certificates go on the KRL, in the same transaction as the move.
      const host = await inventory.inTransaction(async (inv, tx) => {
        const moved = await inv.transition(req.params.host, b.state, {
          actor: actorOf(req.principal),
          reason: b.reason,
          failedStage: b.failedStage,
        });
        if (b.state === 'retired')
          await revokeCertificates?.(moved.id, actorOf(req.principal), b.reason ?? 'host retired', tx);
        return moved;
      });
      return withEtag(reply, host);
    },
  );

  app.get(
    '/hosts/:host/events',
    {
      config: { access: 'viewer' },
      schema: {
        tags: ['hosts', 'events'],
        summary: "A host's events, oldest first",
        params: HostParams,
        querystring: Type.Object(
          {
            after: Type.Optional(Type.Integer()),
            limit: Type.Optional(Type.Integer({ minimum: 1, maximum: 1000, default: 100 })),
          },
          { additionalProperties: false },
        ),
        response: { 200: EventListReply },
      },
    },
    async (req) => {
      const h = await inventory.getHost(req.params.host);
      const q = req.query;
      const items = await inventory.listEvents({ hostId: h.id, after: q.after, limit: q.limit ?? 100 });
      return { items, next: items.length === (q.limit ?? 100) ? items.at(-1)!.seq : null };
    },
  );
};

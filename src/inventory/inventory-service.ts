import { randomUUID } from 'node:crypto';
import type { Kysely, NotNull } from 'kysely';
import type { Database } from '../schema.js';
import { KilnError } from '../error/kiln-error.js';
import { appendEvent, listEvents } from '../event/event-log.js';
import type { EventFilter, KilnEvent, NewEvent } from '../event/event.js';
import type { TimedEvent } from '../event/event-batch.js';
import type { Logger } from '../log/logger.js';
import { silentLogger } from '../log/logger.js';
import type { BmcInput, Host, HostFilter, HostPatch, NewHost } from './host.js';
import { assertTransition, type HostState } from './lifecycle.js';
import type { Mac } from '../net/mac.js';
import * as hosts from './sql-host-store.js';
import type { HostByMacLookup, StoredHost } from './sql-host-store.js';

export type { HostByMacLookup };

/** A host-by-MAC reader for the DHCP hot path; the caller closes it. */
export interface HostByMacReader {
  lookup: HostByMacLookup;
  close(): void;
}
import { checkHostName, checkLabels, checkTags, settleNics, throwIssues } from './validate-host.js';
import { withTransaction } from '../store/transaction.js';
import { isPostgres } from '../store/database.js';
import { createHostMacCache, type HostMacCache } from './host-mac-cache.js';
import { createHostPageCache, type HostPageCache, type HostPageRow } from './host-page-cache.js';

/** Who asks for a change, and why; every change records both in its event. */
export interface ChangeContext {
  actor: string;
  reason?: string | null;
}

/**
 * The context a host's BMC password is sealed under (bound as AEAD additional
 * data): a sealed value copied to another host's row does not open there.
 */
export const bmcSealContext = (hostId: string): string => `host:${hostId}:bmc`;

/** Dependencies of the inventory service; `seal`/`open` protect BMC passwords at rest, bound to `context` (`bmcSealContext`). */
export interface InventoryDeps {
  db: Kysely<Database>;
  seal: (clear: string, context: string) => string;
  open: (sealed: string, context: string) => string;
  /** Refuses BMC settings the power driver would refuse (an operator's address reaches a tool or a URL); default: none. */
  checkBmc?: (bmc: BmcInput) => void;
  log?: Logger;
  now?: () => Date;
}

/** Strips the sealed BMC password: what every caller outside this service sees. */
function view(h: StoredHost): Host {
  const { bmcPasswordSealed: _drop, ...rest } = h;
  return rest;
}

/**
 * Hosts and their audit log. Every mutation and its event commit in one transaction. `cache`: hosts by MAC,
 * `pages`: host list pages; both told of every change.
 */
function createInventoryCore(deps: InventoryDeps, cache: HostMacCache | null, pages: HostPageCache) {
  const { db, seal } = deps;
  const log = deps.log ?? silentLogger;
  const now = () => (deps.now ?? (() => new Date()))().toISOString();

  function sealBmc(
    hostId: string,
    input: BmcInput | null | undefined,
    previous: StoredHost | null,
  ): { bmc: Host['bmc']; sealed: string | null } {
    if (!input) return { bmc: null, sealed: null };
    deps.checkBmc?.(input);
    let sealed = previous?.bmcPasswordSealed ?? null;
    if (input.password === null) sealed = null;
    else if (typeof input.password === 'string') sealed = seal(input.password, bmcSealContext(hostId));
    return {
      bmc: {
        driver: input.driver,
        address: input.address ?? null,
        username: input.username ?? null,
        hasPassword: sealed !== null,
        options: input.options ?? {},
      },
      sealed,
    };
  }

  async function mustGet(exec: Kysely<Database>, idOrName: string): Promise<StoredHost> {
    const h = await hosts.getHost(exec, idOrName);
    if (!h) throw new KilnError('not_found', `no host with id or name "${idOrName}"`);
    return h;
  }

  // A service built over an open transaction (see `inTransaction`) writes into it; Kysely has no nested transactions.
  // The host cache forgets before the change and again after it (a lookup in between does not fill it).
  async function change<T>(fn: (trx: Kysely<Database>, at: string) => Promise<T>): Promise<T> {
    cache?.changed();
    pages.changed();
    try {
      if (db.isTransaction) return await fn(db, now());
      return await withTransaction(db, (trx) => fn(trx, now()));
    } finally {
      cache?.changed();
      pages.changed();
    }
  }

  return {
    async createHost(input: NewHost, ctx: ChangeContext): Promise<Host> {
      throwIssues([...checkHostName(input.name), ...checkTags(input.tags ?? []), ...checkLabels(input.labels ?? {})]);
      const nics = settleNics(input.nics);
      const id = randomUUID();
      const { bmc, sealed } = sealBmc(id, input.bmc, null);
      return change(async (trx, at) => {
        const h: StoredHost = {
          id,
          name: input.name,
          state: input.state ?? 'new',
          stateReason: null,
          failedStage: null,
          profile: input.profile ?? null,
          firmware: input.firmware ?? null,
          nics,
          tags: [...new Set(input.tags ?? [])].sort(),
          labels: input.labels ?? {},
          facts: input.facts ?? {},
          hardwareHash: null,
          needsAttention: false,
          bmc,
          bmcPasswordSealed: sealed,
          version: 1,
          createdAt: at,
          updatedAt: at,
        };
        await hosts.putHost(trx, h);
        await appendEvent(
          trx,
          {
            actor: ctx.actor,
            kind: 'host.created',
            hostId: h.id,
            subject: h.name,
            message: `host ${h.name} created`,
            reason: ctx.reason ?? null,
            after: view(h),
          },
          at,
        );
        log.info({ host: h.name, actor: ctx.actor }, 'host created');
        return view(h);
      });
    },

    async updateHost(idOrName: string, patch: HostPatch, ctx: ChangeContext, expectedVersion?: number): Promise<Host> {
      throwIssues([
        ...(patch.name !== undefined ? checkHostName(patch.name) : []),
        ...(patch.tags ? checkTags(patch.tags) : []),
        ...(patch.labels ? checkLabels(patch.labels) : []),
      ]);
      const nics = patch.nics ? settleNics(patch.nics) : undefined;
      return change(async (trx, at) => {
        const before = await mustGet(trx, idOrName);
        if (expectedVersion !== undefined && expectedVersion !== before.version) {
          throw new KilnError(
            'precondition_failed',
            `host ${before.name} is at version ${before.version}, not ${expectedVersion}; re-read it and retry`,
          );
        }
        const bmcPart =
          patch.bmc !== undefined
            ? sealBmc(before.id, patch.bmc, before)
            : { bmc: before.bmc, sealed: before.bmcPasswordSealed };
        const after: StoredHost = {
          ...before,
          name: patch.name ?? before.name,
          nics: nics ?? before.nics,
          tags: patch.tags ? [...new Set(patch.tags)].sort() : before.tags,
          labels: patch.labels ?? before.labels,
          profile: patch.profile !== undefined ? patch.profile : before.profile,
          firmware: patch.firmware !== undefined ? patch.firmware : before.firmware,
          needsAttention: patch.needsAttention ?? before.needsAttention,
          bmc: bmcPart.bmc,
          bmcPasswordSealed: bmcPart.sealed,
          version: before.version + 1,
          updatedAt: at,
        };
        await hosts.putHost(trx, after, before.version);
        await appendEvent(
          trx,
          {
            actor: ctx.actor,
            kind: 'host.updated',
            hostId: after.id,
            subject: after.name,
            message: `host ${after.name} edited`,
            reason: ctx.reason ?? null,
            before: view(before),
            after: view(after),
          },
          at,
        );
        return view(after);
      });
    },

    async deleteHost(idOrName: string, ctx: ChangeContext): Promise<void> {
      await change(async (trx, at) => {
        const h = await mustGet(trx, idOrName);
        await hosts.deleteHost(trx, h.id);
        await appendEvent(
          trx,
          {
            actor: ctx.actor,
            kind: 'host.deleted',
            hostId: h.id,
            subject: h.name,
            message: `host ${h.name} deleted`,
            reason: ctx.reason ?? null,
            before: view(h),
          },
          at,
        );
      });
      log.info({ host: idOrName, actor: ctx.actor }, 'host deleted');
    },

    /** Moves a host through its lifecycle; refuses illegal moves. `extra` lets a domain change facts/profile in the same commit. */
    async transition(
      idOrName: string,
      to: HostState,
      ctx: ChangeContext & {
        failedStage?: string;
        extra?: Partial<
          Pick<StoredHost, 'profile' | 'facts' | 'hardwareHash' | 'needsAttention' | 'name' | 'tags' | 'firmware'>
        >;
      },
    ): Promise<Host> {
      return change(async (trx, at) => {
        const before = await mustGet(trx, idOrName);
        assertTransition(before.name, before.state, to);
        const after: StoredHost = {
          ...before,
          ...ctx.extra,
          state: to,
          stateReason: ctx.reason ?? null,
          failedStage: to === 'failed' ? (ctx.failedStage ?? null) : null,
          version: before.version + 1,
          updatedAt: at,
        };
        await hosts.putHost(trx, after, before.version);
        await appendEvent(
          trx,
          {
            actor: ctx.actor,
            kind: 'host.state',
            hostId: after.id,
            subject: after.name,
            message: `host ${after.name}: ${before.state} → ${to}`,
            reason: ctx.reason ?? null,
            before: { state: before.state },
            after: { state: to, ...(to === 'failed' ? { failedStage: after.failedStage } : {}) },
          },
          at,
        );
        log.info(
          { host: after.name, from: before.state, to, actor: ctx.actor, reason: ctx.reason },
          'host state changed',
        );
        return view(after);
      });
    },

    /** Stores newly reported facts without a state change (a re-discovery of an enrolled host). */
    async recordFacts(
      idOrName: string,
      extra: Pick<StoredHost, 'facts' | 'hardwareHash' | 'needsAttention' | 'firmware'>,
      actor: string,
    ): Promise<Host> {
      return change(async (trx, at) => {
        const before = await mustGet(trx, idOrName);
        const after: StoredHost = { ...before, ...extra, version: before.version + 1, updatedAt: at };
        await hosts.putHost(trx, after, before.version);
        await appendEvent(
          trx,
          {
            actor,
            kind: 'host.facts',
            hostId: after.id,
            subject: after.name,
            message: `facts of ${after.name} updated`,
            before: { hardwareHash: before.hardwareHash },
            after: { hardwareHash: after.hardwareHash },
          },
          at,
        );
        return view(after);
      });
    },

    /** The host by id or name; `tx` reads inside a caller's open transaction (needed on SQLite, whose one connection it holds). */
    async getHost(idOrName: string, tx?: Kysely<Database>): Promise<Host> {
      return view(await mustGet(tx ?? db, idOrName));
    },
    /** The host with a NIC of this MAC, or null; from memory on SQLite (see host-mac-cache.ts). Called on every DHCP request and script fetch. */
    async findHostByMac(mac: Mac): Promise<Host | null> {
      const load = async (m: Mac) => {
        const h = await hosts.getHostByMac(db, m);
        return h ? view(h) : null;
      };
      return cache && !db.isTransaction ? cache.get(mac, load) : load(mac);
    },
    async listHosts(filter: HostFilter): Promise<Host[]> {
      return (await hosts.listHosts(db, filter)).map(view);
    },
    /**
     * A page of hosts as API JSON documents (what `listHosts` returns, rendered once at write); from memory when
     * no host changed since it was read (see host-page-cache.ts). Frozen: shared by every caller.
     */
    listHostDocs(filter: HostFilter): Promise<readonly HostPageRow[]> {
      const load = () => hosts.listHostDocs(db, filter);
      return db.isTransaction ? load() : pages.get(filter, load);
    },
    /** Renders the list documents of hosts written before they existed (or by an older controller); once, at start. */
    async renderStaleDocs(signal?: AbortSignal): Promise<number> {
      pages.changed();
      const n = await hosts.renderStaleDocs(db, signal);
      pages.changed();
      if (n) log.info({ hosts: n }, 'host list documents rendered');
      return n;
    },
    countHostsByState: () => hosts.countHostsByState(db),
    /** The clear BMC password, for the power drivers only; never put it in a reply, log or event. */
    async revealBmcPassword(idOrName: string): Promise<string | null> {
      const h = await mustGet(db, idOrName);
      return h.bmcPasswordSealed ? deps.open(h.bmcPasswordSealed, bmcSealContext(h.id)) : null;
    },
    /**
     * Re-seals BMC passwords sealed before they were bound to their host
     * (the fixed context `bmc`) under `bmcSealContext(id)`, once, at start:
     * `openLegacy` opens the old form. Afterwards only the bound form opens.
     * A value that opens under neither is left alone and reported.
     */
    async rebindBmcSeals(openLegacy: (sealed: string) => string): Promise<{ rebound: number; unreadable: string[] }> {
      const rows = await db
        .selectFrom('hosts')
        .select(['id', 'name', 'bmc_password_sealed'])
        .where('bmc_password_sealed', 'is not', null)
        .$narrowType<{ bmc_password_sealed: NotNull }>()
        .execute();
      const out = { rebound: 0, unreadable: [] as string[] };
      for (const r of rows) {
        try {
          deps.open(r.bmc_password_sealed, bmcSealContext(r.id));
          continue;
        } catch {
          /* not bound yet: try the old form */
        }
        let clear: string;
        try {
          clear = openLegacy(r.bmc_password_sealed);
        } catch {
          out.unreadable.push(r.name);
          continue;
        }
        cache?.changed();
        pages.changed();
        await db
          .updateTable('hosts')
          .set({ bmc_password_sealed: seal(clear, bmcSealContext(r.id)) })
          .where('id', '=', r.id)
          .where('bmc_password_sealed', '=', r.bmc_password_sealed)
          .execute();
        out.rebound++;
      }
      if (out.rebound) log.info({ rebound: out.rebound }, 'BMC passwords re-sealed to their hosts');
      if (out.unreadable.length)
        log.warn({ hosts: out.unreadable }, 'BMC passwords that cannot be opened with this data.key; enter them again');
      return out;
    },
    async recordEvent(e: NewEvent): Promise<void> {
      await appendEvent(db, e, now());
    },
    /** Writes events that happened at their own times, in order, in one transaction (an event batch's write). */
    async recordEvents(batch: readonly TimedEvent[]): Promise<void> {
      if (batch.length === 0) return;
      await withTransaction(db, async (trx) => {
        for (const t of batch) await appendEvent(trx, t.event, t.at);
      });
    },
    listEvents: (f: EventFilter): Promise<KilnEvent[]> => listEvents(db, f),
  };
}

/** The inventory operations a transaction-bound service offers (all but `inTransaction`). */
export type InventoryOps = ReturnType<typeof createInventoryCore>;

/** Hosts and their audit log. Every mutation and its event commit in one transaction. */
export function createInventoryService(deps: InventoryDeps) {
  // PostgreSQL may have other controllers writing: no cache there until changes are shared between them.
  const cache = isPostgres(deps.db) ? null : createHostMacCache();
  // On PostgreSQL list pages are kept only while another controller's host change is heard (`hostPages.setLive`).
  const pages = createHostPageCache({ live: !isPostgres(deps.db) });
  const core = createInventoryCore(deps, cache, pages);
  return {
    ...core,
    /**
     * The host list page cache's controls: `changed` when hosts changed behind this service's back (another
     * controller's change, heard on PostgreSQL), `setLive` while such changes are heard at all, and its counts.
     */
    hostPages: { changed: pages.changed, setLive: pages.setLive, stats: pages.stats },
    /**
     * Opens a host-by-MAC reader for the DHCP hot path. On an SQLite file
     * (`sqlite`: the store's connection) it is a read-only second connection
     * that never waits for the writer; elsewhere it is `findHostByMac`.
     */
    openHostByMacReader(sqlite?: { name: string; memory: boolean }): HostByMacReader {
      if (sqlite && !sqlite.memory) return hosts.openSqliteHostByMacReader(sqlite.name);
      return { lookup: (mac) => core.findHostByMac(mac), close: () => {} };
    },
    /**
     * Runs `fn` in one transaction with inventory operations bound to it:
     * every change `fn` makes through them (and through `trx`) commits
     * together or not at all. On SQLite (one connection) `fn` must not use the
     * outer service or database meanwhile: that would wait forever.
     */
    async inTransaction<T>(fn: (inv: InventoryOps, trx: Kysely<Database>) => Promise<T>): Promise<T> {
      if (deps.db.isTransaction) return fn(createInventoryCore(deps, cache, pages), deps.db);
      return withTransaction(deps.db, (trx) => fn(createInventoryCore({ ...deps, db: trx }, cache, pages), trx));
    },
  };
}

/** The inventory service's type, for consumers that receive it as a dependency. */
export type InventoryService = ReturnType<typeof createInventoryService>;

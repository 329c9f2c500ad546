// Outbound hooks: HTTP hooks managed through the API (admin), executable
// hooks from the config file, their delivery history, and the targets the
// worker delivers to. Each change of an HTTP hook commits with its event.
import { randomBytes, randomUUID } from 'node:crypto';
import type { Kysely } from 'kysely';
import type { Database } from '../schema.js';
import { KilnError } from '../error/kiln-error.js';
import { appendEvent, listEvents } from '../event/event-log.js';
import type { Logger } from '../log/logger.js';
import { checkEgressUrl } from '../net/egress-url.js';
import { isUniqueViolation } from '../store/unique-violation.js';
import { withTransaction } from '../store/transaction.js';
import type { HookDelivery, HttpHook } from './hook.js';
import type { ExecHookConfig } from './hook-config.js';
import type { HookTarget } from './hook-worker.js';
import { runExecHook } from './run-exec-hook.js';
import { sendHttpHook } from './send-http-hook.js';
import * as store from './sql-hook-store.js';

/** The context a hook's secret is sealed under: a sealed value copied to another hook's row does not open there. */
export const hookSealContext = (id: string) => `hook:${id}`;

/** Margin added to an attempt's own time limit for its claim: past it, another round may send it again. */
const CLAIM_MARGIN_MS = 5000;

export interface HookServiceDeps {
  db: Kysely<Database>;
  /** Seal and open secrets at rest (the data key: trust/credential/secret-box.ts). */
  seal: (clear: string, context: string) => string;
  open: (sealed: string, context: string) => string;
  /** A host's id from its name or id; throws not_found. */
  hostId: (nameOrId: string) => Promise<string>;
  /** Executable hooks (config file only). */
  exec: readonly ExecHookConfig[];
  /** Time limit of one HTTP attempt. */
  timeoutMs: number;
  log: Logger;
  now?: () => Date;
}

/** What an admin gives to create an HTTP hook. */
export interface HookInput {
  name: string;
  url: string;
  kinds: string[];
  host?: string;
  enabled?: boolean;
}

/** A hook as listed: HTTP hooks from the store and executable hooks from the config (read-only here). */
export type ListedHook =
  | (HttpHook & { type: 'http' })
  | {
      type: 'exec';
      id: string;
      name: string;
      command: string[];
      kinds: string[];
      host: string | null;
      enabled: true;
    };

const refuseUrl = (why: string): never => {
  throw new KilnError('validation_failed', `hook url ${why}`, {
    issues: [{ path: '/url', code: 'url_refused', message: why }],
  });
};

export function createHookService(deps: HookServiceDeps) {
  const { db } = deps;
  const now = () => (deps.now ?? (() => new Date()))();
  const execId = (name: string) => `exec:${name}`;
  const publicOf = ({ secretSealed: _, ...h }: store.StoredHook): HttpHook => h;

  async function mustGet(idOrName: string): Promise<store.StoredHook> {
    const h = await store.getHook(db, idOrName);
    if (!h) throw new KilnError('not_found', `no hook ${idOrName} (see kiln hook list)`);
    return h;
  }

  async function hostIdOr(name: string): Promise<string | null> {
    try {
      return await deps.hostId(name);
    } catch (err) {
      if ((err as KilnError).code === 'not_found') return null;
      throw err;
    }
  }

  return {
    /** Creates an HTTP hook; the secret is in this answer only (stored sealed, never returned again). */
    async create(input: HookInput, actor: string): Promise<{ hook: HttpHook; secret: string }> {
      checkEgressUrl(input.url, refuseUrl);
      const hostId = input.host ? await deps.hostId(input.host) : null;
      const id = randomUUID();
      const secret = `khs_${randomBytes(32).toString('base64url')}`;
      const at = now().toISOString();
      const hook: HttpHook = {
        id,
        name: input.name,
        url: input.url,
        kinds: [...new Set(input.kinds)],
        hostId,
        enabled: input.enabled ?? true,
        createdAt: at,
        createdBy: actor,
      };
      try {
        await withTransaction(db, async (tx) => {
          await store.putHook(tx, { ...hook, secretSealed: deps.seal(secret, hookSealContext(id)) });
          await appendEvent(
            tx,
            { actor, kind: 'hook.created', subject: hook.name, message: `hook ${hook.name} created`, after: hook },
            at,
          );
          // The hook takes the events committed after its own creation, from its first worker round on.
          const latest = (await listEvents(tx, { order: 'desc', limit: 1 }))[0]?.seq ?? 0;
          await store.putCursor(tx, id, latest, at);
        });
      } catch (err) {
        if (isUniqueViolation(err))
          throw new KilnError('conflict', `a hook named ${input.name} exists; pick another name or delete it first`);
        throw err;
      }
      return { hook, secret };
    },

    /** Changes an HTTP hook's URL, kinds or enabled flag (its secret stays). */
    async update(idOrName: string, patch: { url?: string; kinds?: string[]; enabled?: boolean }, actor: string) {
      if (patch.url !== undefined) checkEgressUrl(patch.url, refuseUrl);
      return withTransaction(db, async (tx) => {
        const before = await store.getHook(tx, idOrName);
        if (!before) throw new KilnError('not_found', `no hook ${idOrName} (see kiln hook list)`);
        const after = {
          ...before,
          url: patch.url ?? before.url,
          kinds: patch.kinds ? [...new Set(patch.kinds)] : before.kinds,
          enabled: patch.enabled ?? before.enabled,
        };
        await store.putHook(tx, after);
        const at = now().toISOString();
        await appendEvent(
          tx,
          {
            actor,
            kind: 'hook.updated',
            subject: after.name,
            message: `hook ${after.name} updated`,
            before: publicOf(before),
            after: publicOf(after),
          },
          at,
        );
        return publicOf(after);
      });
    },

    /** Deletes an HTTP hook with its queue and history. */
    async delete(idOrName: string, actor: string): Promise<void> {
      await withTransaction(db, async (tx) => {
        const h = await store.getHook(tx, idOrName);
        if (!h) throw new KilnError('not_found', `no hook ${idOrName} (see kiln hook list)`);
        await store.deleteHook(tx, h.id);
        const at = now().toISOString();
        await appendEvent(
          tx,
          { actor, kind: 'hook.deleted', subject: h.name, message: `hook ${h.name} deleted`, before: publicOf(h) },
          at,
        );
      });
    },

    /** One HTTP hook by id or name, or an executable hook as `exec:<name>`. */
    async get(idOrName: string): Promise<ListedHook> {
      const e = deps.exec.find((x) => execId(x.name) === idOrName);
      if (e) return execListed(e);
      return { ...publicOf(await mustGet(idOrName)), type: 'http' };
    },

    /** Every hook: HTTP hooks by name, then executable ones. */
    async list(): Promise<ListedHook[]> {
      const http = (await store.listHooks(db)).map((h) => ({ ...publicOf(h), type: 'http' as const }));
      return [...http, ...deps.exec.map(execListed)];
    },

    /** A hook's deliveries, newest event first. */
    async deliveries(idOrName: string, q: { status?: HookDelivery['status']; limit: number }) {
      const hook = await this.get(idOrName);
      return store.listDeliveries(db, { hookId: hook.id, ...q });
    },

    /** Deliveries by status across all hooks (metrics: the queue depth is `pending`). */
    countDeliveries: () => store.countDeliveries(db),

    /** What the worker delivers to now: every HTTP hook (its secret opened) and every executable hook. */
    async targets(): Promise<HookTarget[]> {
      const http = (await store.listHooks(db)).map((h): HookTarget => {
        const log = deps.log.child({ hook: h.name });
        return {
          id: h.id,
          name: h.name,
          filter: h,
          enabled: h.enabled,
          leaseMs: deps.timeoutMs + CLAIM_MARGIN_MS,
          deliver: (a) =>
            sendHttpHook(
              {
                url: h.url,
                secret: deps.open(h.secretSealed, hookSealContext(h.id)),
                deliveryId: a.deliveryId,
                kind: a.event.kind,
                body: a.body,
                nowSec: Math.floor(now().getTime() / 1000),
                timeoutMs: deps.timeoutMs,
                signal: a.signal,
              },
              log,
            ),
        };
      });
      const exec: HookTarget[] = [];
      for (const e of deps.exec) {
        // A host that does not exist (yet) matches nothing: `missing:` is never a host id.
        const hostId = e.host ? ((await hostIdOr(e.host)) ?? `missing:${e.host}`) : null;
        const log = deps.log.child({ hook: execId(e.name) });
        exec.push({
          id: execId(e.name),
          name: execId(e.name),
          filter: { kinds: e.kinds, hostId },
          enabled: true,
          leaseMs: e.timeoutSeconds * 1000 + CLAIM_MARGIN_MS,
          deliver: (a) =>
            runExecHook(
              {
                command: [...e.command],
                deliveryId: a.deliveryId,
                kind: a.event.kind,
                body: a.body,
                timeoutMs: e.timeoutSeconds * 1000,
                signal: a.signal,
              },
              log,
            ),
        });
      }
      return [...http, ...exec];
    },
  };

  function execListed(e: ExecHookConfig): ListedHook {
    return {
      type: 'exec',
      id: execId(e.name),
      name: execId(e.name),
      command: [...e.command],
      kinds: e.kinds,
      host: e.host ?? null,
      enabled: true,
    };
  }
}

/** The hook service's type. */
export type HookService = ReturnType<typeof createHookService>;

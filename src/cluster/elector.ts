// One member of a store: its row in `controllers` (its heartbeat is written
// off the main loop, member-heartbeat.ts), and the singleton roles it holds.
// Every `pollMs` it checks the locks it holds (a broken lock connection loses
// every role at once), tries to take the roles it lacks, and checks its terms
// (fencing: a role row that names another term means another member took
// over, whatever this one believes). A role's work runs while the member holds
// it and is aborted when it is lost. docs/adr/0013-singletons-and-members.md.
import type { Kysely } from 'kysely';
import { silentLogger, type Logger } from '../log/logger.js';
import type { Database } from '../schema.js';
import { withTransaction } from '../store/transaction.js';
import type { RoleLocks } from './role-locks.js';
import { SINGLETON_ROLES, type SingletonRole } from './roles.js';
import * as store from './sql-cluster-store.js';

/** What a role's work gets: a signal that aborts when the role is lost, and the fence to check before each action. */
export interface RoleContext {
  signal: AbortSignal;
  term: number;
  /** True while this member still holds the role at this term (one indexed read). */
  fence: () => Promise<boolean>;
  /**
   * The fence inside a write: runs `fn` in one transaction that first checks the role row at this term (held
   * `FOR SHARE` on PostgreSQL, so no newer term commits in between) and returns `{ ok: true, value }`; when
   * another member holds a newer term nothing runs and it returns `{ ok: false }`.
   */
  write: <T>(fn: (tx: Kysely<Database>) => Promise<T>) => Promise<FencedResult<T>>;
}

/** What a fenced write returns: its value, or `ok: false` when the role row names a newer term (nothing written). */
export type FencedResult<T> = { ok: true; value: T } | { ok: false };

/** The work of one role: runs until `ctx.signal` aborts; a rejection is logged and the work restarts next poll. */
export type RoleWork = (ctx: RoleContext) => Promise<void>;

export interface ElectorDeps {
  db: Kysely<Database>;
  locks: RoleLocks;
  /** This member. `apiUrl`: its node API URL (HTTPS when its TLS listener is on; default `url`), which the machines fail
   * over across; `memberCa` (its SSH CA fingerprint, null when peers cannot verify its certificate) lets peers fetch content from it;
   * `dhcpServerIds`: the DHCP server identifiers it answers with (a live member answers REQUESTs naming them once it is dead). */
  member: {
    id: string;
    name: string;
    url: string;
    version: string;
    apiUrl?: string | null;
    memberCa?: string | null;
    dhcpServerIds?: readonly string[] | null;
  };
  /** The work per role. A member contends only for the roles it has work for (hooks.enabled false: never hook-delivery). */
  work: Partial<Record<SingletonRole, RoleWork>>;
  /** How often roles are checked and taken (default 1000 ms). */
  pollMs?: number;
  now?: () => Date;
  log?: Logger;
}

interface Held {
  term: number;
  abort: AbortController;
  running: Promise<void>;
}

/** Runs `fn` in one transaction after the fence check in that transaction (RoleContext.write). */
export async function fencedWrite<T>(
  db: Kysely<Database>,
  role: SingletonRole,
  holder: string,
  term: number,
  fn: (tx: Kysely<Database>) => Promise<T>,
): Promise<FencedResult<T>> {
  return withTransaction(db, async (tx): Promise<FencedResult<T>> => {
    if (!(await store.lockTerm(tx, role, holder, term))) return { ok: false };
    return { ok: true, value: await fn(tx) };
  });
}

/** Creates a member; `start()` records it and begins electing, `stop()` aborts its work and releases its roles. */
export function createElector(deps: ElectorDeps) {
  const { db, locks, member } = deps;
  const now = deps.now ?? (() => new Date());
  const log = deps.log ?? silentLogger;
  const pollMs = deps.pollMs ?? 1000;
  const held = new Map<SingletonRole, Held>();
  const stopping = new AbortController();
  let loop: Promise<void> | null = null;

  async function lose(role: SingletonRole, why: string): Promise<void> {
    const h = held.get(role);
    if (!h) return;
    held.delete(role);
    h.abort.abort();
    log.warn({ role, term: h.term, why }, 'cluster: role lost; its work is stopped');
    await h.running;
    await locks.release(role).catch(() => {});
  }

  function begin(role: SingletonRole, term: number): void {
    const abort = new AbortController();
    const ctx: RoleContext = {
      signal: abort.signal,
      term,
      fence: () => store.holdsTerm(db, role, member.id, term).catch(() => false),
      write: (fn) => fencedWrite(db, role, member.id, term, fn),
    };
    const work = deps.work[role]!;
    // Work that ends or fails while the role is held gives the role up, so the next round (here or on another
    // member) takes it with a new term and starts the work again.
    const running = work(ctx).then(
      () => {
        if (!abort.signal.aborted) void lose(role, 'its work ended');
      },
      (err: unknown) => {
        log.error({ role, err: (err as Error).message }, 'cluster: role work failed; it restarts when retaken');
        if (!abort.signal.aborted) void lose(role, 'its work failed');
      },
    );
    held.set(role, { term, abort, running });
  }

  /** One round: check the held locks and terms, take the free roles. */
  async function round(): Promise<void> {
    if (held.size > 0) {
      try {
        await locks.check();
      } catch (err) {
        for (const role of [...held.keys()]) await lose(role, `lock connection lost: ${(err as Error).message}`);
      }
    }
    for (const [role, h] of [...held]) {
      if (!(await store.holdsTerm(db, role, member.id, h.term))) await lose(role, 'another member holds a newer term');
    }
    for (const role of SINGLETON_ROLES) {
      if (held.has(role) || stopping.signal.aborted || !deps.work[role]) continue;
      if (!(await locks.tryTake(role))) continue;
      const term = await store.takeTerm(db, role, member.id, now().toISOString());
      log.info({ role, term }, 'cluster: role taken');
      begin(role, term);
    }
  }

  return {
    /** The roles this member holds now, with their terms. */
    held(): Array<{ role: SingletonRole; term: number }> {
      return [...held].map(([role, h]) => ({ role, term: h.term }));
    },
    /** Runs one round now (tests). */
    round,
    /** Records the member, takes what roles it can at once, then keeps electing every `pollMs` until `stop()`. */
    async start(): Promise<void> {
      const at = now().toISOString();
      await store.putMember(db, { ...member, apiUrl: member.apiUrl ?? member.url, startedAt: at, lastSeen: at });
      await round().catch((err: unknown) => log.warn({ err: (err as Error).message }, 'cluster: first round failed'));
      loop = (async () => {
        while (!stopping.signal.aborted) {
          await new Promise<void>((resolve) => {
            const wake = () => (clearTimeout(t), resolve());
            const t = setTimeout(() => {
              stopping.signal.removeEventListener('abort', wake);
              resolve();
            }, pollMs);
            stopping.signal.addEventListener('abort', wake, { once: true });
          });
          if (stopping.signal.aborted) break;
          await round().catch((err: unknown) =>
            log.warn({ err: (err as Error).message }, 'cluster: election round failed; retrying'),
          );
        }
      })();
    },
    /** Aborts the work of every role, waits for it, marks the member stopped and releases the locks. */
    async stop(): Promise<void> {
      stopping.abort();
      await loop;
      for (const role of [...held.keys()]) await lose(role, 'the controller is stopping');
      await store
        .stopMember(db, member.id, now().toISOString())
        .catch((err: unknown) => log.warn({ err: (err as Error).message }, 'cluster: could not record the stop'));
      await locks.close();
    },
  };
}

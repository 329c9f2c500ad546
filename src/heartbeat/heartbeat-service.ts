/**
 * The heartbeat service (issue 14): takes installed hosts' heartbeats, keeps
 * each host's last-seen and latest health in memory, writes changed health
 * to its own table in batches (never one write per heartbeat), checks silent
 * hosts on an injectable clock (missing `missedIntervals` heartbeats raises
 * one `host.unreachable`, the next heartbeat one `host.reachable`), records
 * `host.rebooted` on a new boot id, asks for the host's facts when a
 * hardware re-audit is due, and answers each heartbeat with the current SSH
 * KRL. The decisions are the health model's (health-model.ts).
 *
 * Silent hosts are judged from the store, not from one controller's memory:
 * every controller flushes what it heard, and the one holding the elected
 * `silent-hosts` role (docs/adr/0013) reads the rows no heartbeat moved and
 * marks each unreachable in the event's own transaction, fenced by its term;
 * the controller that hears the host again clears the mark in the
 * `host.reachable` event's transaction. So each fact is one event, whichever
 * controller saw what.
 */
import { createHash } from 'node:crypto';
import type { Kysely } from 'kysely';
import type { NewEvent } from '../event/event.js';
import type { Database } from '../schema.js';
import { silentLogger, type Logger } from '../log/logger.js';
import {
  audited,
  auditDue,
  healthStatus,
  missedTooMany,
  receiveHeartbeat,
  type HealthChange,
  type HealthReport,
  type HostHealth,
} from './health-model.js';
import { rulesOf, type HeartbeatConfig } from './heartbeat-config.js';
import type { HealthStore } from './sql-health-store.js';

/** A host as the heartbeat needs it; `state` is its lifecycle state. */
export interface HeartbeatHost {
  id: string;
  name: string;
  state: string;
}

/** One heartbeat as the route hands it over: the report, and optionally facts for a re-audit and the KRL digest the node has. */
export interface HeartbeatInput {
  report: HealthReport;
  facts?: Record<string, unknown>;
  krlSha256?: string;
}

/** The answer to a heartbeat: when to send the next, whether to send facts with it, and the KRL when the node's is not current. */
export interface HeartbeatReply {
  intervalSeconds: number;
  audit: boolean;
  krlSha256: string;
  /** The KRL (base64); null when the node already has this one (its `krlSha256` matched). */
  krl: string | null;
}

/** A host's health as the API shows it (GET /api/v1/hosts/{host}/health). */
export interface HealthView {
  hostId: string;
  hostName: string;
  status: 'never' | 'ok' | 'late' | 'unreachable';
  intervalSeconds: number;
  missedIntervals: number;
  lastSeenAt: string | null;
  lastIp: string | null;
  bootedAt: string | null;
  report: HealthReport | null;
  hardware: { hash: string | null; auditedAt: string | null };
}

export interface HeartbeatServiceDeps {
  store: HealthStore;
  config: HeartbeatConfig;
  /** The host by id, or null when it is gone. */
  host: (id: string) => Promise<HeartbeatHost | null>;
  /** Re-audits the host's facts with discovery's hardware hash (the diff event is the caller's); returns the hash. */
  audit: (hostId: string, facts: Record<string, unknown>) => Promise<string>;
  /** The current SSH KRL. */
  krl: () => Promise<Uint8Array>;
  /** Appends one event. */
  record: (e: NewEvent) => Promise<void>;
  /** Appends one event in the transaction `tx` (the unreachable mark and its event commit together). */
  recordIn: (tx: Kysely<Database>, e: NewEvent) => Promise<void>;
  /** Runs `fn` in one transaction (unfenced: the `host.reachable` write of whichever controller heard the host). */
  transaction: HealthWrite;
  /**
   * How far the store's last-seen may lag what another controller heard (its batch interval, `flushSeconds`, on
   * PostgreSQL with several controllers; 0 on SQLite): added to the silence before a host counts as unreachable.
   */
  flushLagMs?: number;
  /** Told the first heartbeat of each boot (the boot timeline's `heartbeat` stage). */
  bootHeard?: (hostId: string, session: string | null, detail: string, reboot: boolean) => void;
  now?: () => number;
  log?: Logger;
  /** Hosts kept in memory (least recently heard forgotten first; their row stays in the store). */
  maxHosts?: number;
  /** How long one read of the KRL is reused (default 5 s, at most one interval). */
  krlCacheMs?: number;
}

/**
 * Runs `fn` in one transaction and says whether it ran: the `silent-hosts` holder passes its fenced write (false:
 * another controller holds a newer term, nothing was written), other callers a plain transaction.
 */
export type HealthWrite = (fn: (tx: Kysely<Database>) => Promise<void>) => Promise<boolean>;

/** Silent rows judged per pass (the oldest first); the rest wait for the next pass. */
const SILENT_PER_PASS = 1000;

/** Lifecycle states in which a host is expected to go quiet (reinstall, wipe, retirement): its silence is no event. */
const QUIET_STATES: ReadonlySet<string> = new Set(['new', 'discovering', 'deploying', 'releasing', 'retired']);

const iso = (ms: number) => new Date(ms).toISOString();

export function createHeartbeatService(deps: HeartbeatServiceDeps) {
  const { store, config } = deps;
  const rules = rulesOf(config);
  const now = deps.now ?? Date.now;
  const log = deps.log ?? silentLogger;
  const maxHosts = deps.maxHosts ?? 100_000;
  const krlCacheMs = Math.min(deps.krlCacheMs ?? 5000, rules.intervalMs);
  const health = new Map<string, HostHealth>();
  const dirty = new Set<string>();
  let watchFrom = now();
  let krlCache: { at: number; sha256: string; base64: string } | null = null;
  const timers: NodeJS.Timeout[] = [];
  let checking: Promise<number> = Promise.resolve(0);
  const flushLagMs = deps.flushLagMs ?? 0;
  const silenceMs = rules.missedIntervals * rules.intervalMs;
  let flushing: Promise<void> = Promise.resolve();

  const remember = (h: HostHealth) => {
    health.delete(h.hostId);
    if (health.size >= maxHosts) health.delete(health.keys().next().value!);
    health.set(h.hostId, h);
  };

  async function currentKrl() {
    const at = now();
    if (krlCache && at - krlCache.at < krlCacheMs) return krlCache;
    const bytes = await deps.krl();
    krlCache = {
      at,
      sha256: createHash('sha256').update(bytes).digest('hex'),
      base64: Buffer.from(bytes).toString('base64'),
    };
    return krlCache;
  }

  function eventOf(h: HostHealth, c: HealthChange): NewEvent {
    const base = { actor: `node:${h.hostName}`, hostId: h.hostId, subject: h.hostName };
    if (c.kind === 'host.rebooted')
      return {
        ...base,
        kind: c.kind,
        message: `${h.hostName} rebooted (boot id ${c.previousBootId} → ${h.report.bootId}, up ${Math.round(h.report.uptimeSeconds)} s)`,
        data: {
          previousBootId: c.previousBootId,
          bootId: h.report.bootId,
          previousLastSeenAt: iso(c.previousLastSeenAt),
          uptimeSeconds: h.report.uptimeSeconds,
          session: h.report.session,
        },
      };
    return {
      ...base,
      kind: c.kind,
      message: `${h.hostName} is sending heartbeats again after ${Math.round(c.silentMs / 1000)} s of silence`,
      data: { silentSeconds: Math.round(c.silentMs / 1000), bootId: h.report.bootId },
    };
  }

  /** Writes one host's row now (after a change the log records: a restart must not repeat its event). */
  async function putNow(h: HostHealth): Promise<void> {
    dirty.delete(h.hostId);
    await store.put([h]).catch((err: unknown) => {
      dirty.add(h.hostId);
      log.warn({ err: (err as Error).message, host: h.hostName }, 'heartbeat: could not write health; retried later');
    });
  }

  function unreachableEvent(h: HostHealth, at: number): NewEvent {
    const silent = Math.round((at - h.lastSeenAt) / 1000);
    return {
      actor: 'system',
      kind: 'host.unreachable',
      hostId: h.hostId,
      subject: h.hostName,
      message: `${h.hostName} missed ${config.missedIntervals} heartbeats (interval ${config.intervalSeconds} s): last heard ${iso(h.lastSeenAt)} from ${h.lastIp}, ${silent} s ago`,
      data: {
        lastSeenAt: iso(h.lastSeenAt),
        lastIp: h.lastIp,
        silentSeconds: silent,
        intervalSeconds: config.intervalSeconds,
        missedIntervals: config.missedIntervals,
        bootId: h.report.bootId,
      },
    };
  }

  /** Writes every changed host's health in one batch. */
  function flush(): Promise<void> {
    flushing = flushing.then(async () => {
      const rows = [...dirty].flatMap((id) => health.get(id) ?? []);
      dirty.clear();
      await store.put(rows).catch((err: unknown) => {
        for (const r of rows) dirty.add(r.hostId);
        log.warn({ err: (err as Error).message, rows: rows.length }, 'heartbeat: could not write health; retried');
      });
    });
    return flushing;
  }

  /**
   * One pass over the store: each host whose stored last-seen is older than the silence rule (plus the other
   * controllers' batch lag), and that this controller has not heard since, is marked unreachable with its event in
   * one `write`; a host that is gone or in a quiet state loses its row instead. Stops at the first refused write
   * (the role moved). Returns the events.
   */
  async function checkStored(write: HealthWrite): Promise<number> {
    const at = now();
    // Heartbeats sent while this controller was down were not missed by the host.
    if (at - watchFrom <= silenceMs + flushLagMs) return 0;
    // A host this controller heard last, silent long enough, whose row waits for the next batch: written now, so
    // the judgement below sees it (the rest keep waiting for their batch).
    const due = [...dirty].flatMap((id) => {
      const h = health.get(id);
      return h && missedTooMany(h, rules, at - flushLagMs, watchFrom) ? [h] : [];
    });
    if (due.length > 0) {
      for (const h of due) dirty.delete(h.hostId);
      await store.put(due).catch((err: unknown) => {
        for (const h of due) dirty.add(h.hostId);
        log.warn({ err: (err as Error).message, rows: due.length }, 'heartbeat: could not write health; retried');
      });
    }
    let raised = 0;
    for (const h of await store.silent(iso(at - silenceMs - flushLagMs), SILENT_PER_PASS)) {
      if (!missedTooMany(h, rules, at - flushLagMs, watchFrom)) continue;
      // Heard by this controller since its last batch: not silent (its row is written with the next batch).
      if ((health.get(h.hostId)?.lastSeenAt ?? 0) > h.lastSeenAt) continue;
      const host = await deps.host(h.hostId);
      if (!host || QUIET_STATES.has(host.state)) {
        // Gone, or reinstalling, wiping, retired: it is not expected to answer; its next heartbeat starts afresh.
        const ok = await write((tx) => store.delete(h.hostId, { tx, lastSeenAt: iso(h.lastSeenAt) }));
        if (!ok) return raised;
        if ((health.get(h.hostId)?.lastSeenAt ?? 0) <= h.lastSeenAt) {
          health.delete(h.hostId);
          dirty.delete(h.hostId);
        }
        log.info({ host: h.hostName, state: host?.state ?? 'deleted' }, 'heartbeat: host no longer watched');
        continue;
      }
      const next: HostHealth = { ...h, hostName: host.name, unreachable: true };
      let marked = false;
      const ok = await write(async (tx) => {
        marked = await store.markUnreachable(tx, next);
        if (marked) await deps.recordIn(tx, unreachableEvent(next, at));
      });
      if (!ok) return raised;
      if (!marked) continue; // heard meanwhile, or already reported
      raised++;
      if ((health.get(h.hostId)?.lastSeenAt ?? 0) <= h.lastSeenAt) {
        remember(next);
        dirty.delete(h.hostId);
      }
    }
    return raised;
  }

  /** Records `changes` of one heartbeat; a return (`host.reachable`) only when this write cleared the stored mark. */
  async function recordChanges(next: HostHealth, changes: HealthChange[]): Promise<void> {
    if (!changes.some((c) => c.kind === 'host.reachable')) {
      for (const c of changes) await deps.record(eventOf(next, c));
      if (changes.length) await putNow(next);
      return;
    }
    let cleared = false;
    await deps.transaction(async (tx) => {
      cleared = await store.clearUnreachable(tx, next);
      for (const c of changes) if (cleared || c.kind !== 'host.reachable') await deps.recordIn(tx, eventOf(next, c));
    });
    if (cleared) dirty.delete(next.hostId);
    else await putNow(next); // another controller reported the return (or nothing was marked): the row is written
  }

  return {
    /** Files one heartbeat of `host` from `ip`; records reboot and return events; answers interval, audit and KRL. */
    async receive(host: { id: string; name: string }, input: HeartbeatInput, ip: string): Promise<HeartbeatReply> {
      const at = now();
      let prev = health.get(host.id) ?? (await store.get(host.id)) ?? undefined;
      // The silent-hosts holder (maybe another controller) may have marked it unreachable since this one heard it:
      // possible only after that much silence, so only then is the store asked.
      if (prev && !prev.unreachable && at - prev.lastSeenAt > silenceMs) {
        const stored = await store.get(host.id);
        if (stored && stored.lastSeenAt >= prev.lastSeenAt) prev = stored;
      }
      const heard = receiveHeartbeat(prev, host, input.report, ip, at);
      const changes = heard.changes;
      const next = input.facts ? audited(heard.next, await deps.audit(host.id, input.facts), at) : heard.next;
      remember(next);
      dirty.add(host.id);
      await recordChanges(next, changes);
      const rebooted = changes.some((c) => c.kind === 'host.rebooted');
      if (!prev || rebooted)
        deps.bootHeard?.(host.id, next.report.session, `heartbeat (boot id ${next.report.bootId})`, rebooted);
      const krl = await currentKrl();
      return {
        intervalSeconds: config.intervalSeconds,
        audit: !input.facts && auditDue(next, rules, at),
        krlSha256: krl.sha256,
        krl: input.krlSha256 === krl.sha256 ? null : krl.base64,
      };
    },

    /** The host's status from memory only (no store query: the host list asks for every host of a page); null when not held. */
    statusOf(hostId: string): 'ok' | 'late' | 'unreachable' | null {
      const h = health.get(hostId);
      return h ? healthStatus(h, rules, now()) : null;
    },

    /**
     * The hosts this controller holds as unreachable (their `host.unreachable` raised, no heartbeat since), the
     * most recently heard first, at most `limit`: from memory, as `statusOf` is.
     */
    unreachable(limit: number): Array<{ hostId: string; hostName: string; lastSeenAt: string; lastIp: string }> {
      return [...health.values()]
        .filter((h) => h.unreachable)
        .sort((a, b) => b.lastSeenAt - a.lastSeenAt)
        .slice(0, limit)
        .map((h) => ({ hostId: h.hostId, hostName: h.hostName, lastSeenAt: iso(h.lastSeenAt), lastIp: h.lastIp }));
    },

    /** The host's health (memory first, then the store: another controller may hold it); `never` without a heartbeat. */
    async health(host: { id: string; name: string }): Promise<HealthView> {
      const h = health.get(host.id) ?? (await store.get(host.id));
      const base = {
        hostId: host.id,
        hostName: host.name,
        intervalSeconds: config.intervalSeconds,
        missedIntervals: config.missedIntervals,
      };
      if (!h)
        return {
          ...base,
          status: 'never',
          lastSeenAt: null,
          lastIp: null,
          bootedAt: null,
          report: null,
          hardware: { hash: null, auditedAt: null },
        };
      return {
        ...base,
        status: healthStatus(h, rules, now()),
        lastSeenAt: iso(h.lastSeenAt),
        lastIp: h.lastIp,
        bootedAt: iso(h.lastSeenAt - h.report.uptimeSeconds * 1000),
        report: h.report,
        hardware: { hash: h.hardwareHash, auditedAt: h.auditedAt === null ? null : iso(h.auditedAt) },
      };
    },

    /**
     * One pass over the store (the `silent-hosts` role's work, every `checkSeconds`): raises `host.unreachable` for
     * each host that has now missed too many heartbeats, through `write` (the holder's fenced write; default: a
     * plain transaction). Resolves the number raised; a failed pass is logged and counts 0.
     */
    check(write: HealthWrite = deps.transaction): Promise<number> {
      checking = checking.then(
        () => checkStored(write),
        () => checkStored(write),
      );
      return checking.catch((err: unknown) => {
        log.warn({ err: (err as Error).message }, 'heartbeat: unreachable check failed');
        return 0;
      });
    },

    /** How often the `silent-hosts` holder runs `check`. */
    checkEveryMs: config.checkSeconds * 1000,

    /** Writes every changed host's health in one batch. */
    flush,

    /**
     * Loads the stored health, then flushes on the config's interval and (unless `check: false`, when the elected
     * `silent-hosts` role runs `check`) checks silent hosts every `checkSeconds`.
     */
    async start(o: { check?: boolean } = {}): Promise<void> {
      for (const h of await store.list(iso(0))) remember(h);
      watchFrom = now();
      if (o.check !== false) timers.push(setInterval(() => void this.check(), config.checkSeconds * 1000).unref());
      timers.push(setInterval(() => void flush(), config.flushSeconds * 1000).unref());
    },

    /** Stops the timers and writes what is still unwritten. */
    async close(): Promise<void> {
      for (const t of timers) clearInterval(t);
      timers.length = 0;
      await checking.catch(() => 0);
      await flush();
    },
  };
}

/** The heartbeat service's type. */
export type HeartbeatService = ReturnType<typeof createHeartbeatService>;

/**
 * The heartbeat service (issue 14): takes installed hosts' heartbeats, keeps
 * each host's last-seen and latest health in memory, writes changed health
 * to its own table in batches (never one write per heartbeat), checks silent
 * hosts on an injectable clock (missing `missedIntervals` heartbeats raises
 * one `host.unreachable`, the next heartbeat one `host.reachable`), records
 * `host.rebooted` on a new boot id, asks for the host's facts when a
 * hardware re-audit is due, and answers each heartbeat with the current SSH
 * KRL. The decisions are the health model's (health-model.ts).
 */
import { createHash } from 'node:crypto';
import type { NewEvent } from '../event/event.js';
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
  /** Told the first heartbeat of each boot (the boot timeline's `heartbeat` stage). */
  bootHeard?: (hostId: string, session: string | null, detail: string, reboot: boolean) => void;
  now?: () => number;
  log?: Logger;
  /** Hosts kept in memory (least recently heard forgotten first; their row stays in the store). */
  maxHosts?: number;
  /** How long one read of the KRL is reused (default 5 s, at most one interval). */
  krlCacheMs?: number;
}

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
  let checking: Promise<void> = Promise.resolve();
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

  async function raiseUnreachable(h: HostHealth, at: number): Promise<void> {
    // Another controller on the same store may have heard it (its batches carry last-seen).
    const stored = await store.get(h.hostId);
    if (health.get(h.hostId) !== h) return;
    if (stored && stored.lastSeenAt > h.lastSeenAt) {
      remember(stored);
      return;
    }
    const host = await deps.host(h.hostId);
    if (health.get(h.hostId) !== h) return;
    if (!host || QUIET_STATES.has(host.state)) {
      // Gone, or reinstalling, wiping, retired: it is not expected to answer; its next heartbeat starts afresh.
      health.delete(h.hostId);
      dirty.delete(h.hostId);
      await store.delete(h.hostId);
      log.info({ host: h.hostName, state: host?.state ?? 'deleted' }, 'heartbeat: host no longer watched');
      return;
    }
    const next = { ...h, unreachable: true };
    remember(next);
    const silent = Math.round((at - h.lastSeenAt) / 1000);
    await deps.record({
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
    });
    await putNow(next);
  }

  return {
    /** Files one heartbeat of `host` from `ip`; records reboot and return events; answers interval, audit and KRL. */
    async receive(host: { id: string; name: string }, input: HeartbeatInput, ip: string): Promise<HeartbeatReply> {
      const at = now();
      const prev = health.get(host.id) ?? (await store.get(host.id)) ?? undefined;
      const heard = receiveHeartbeat(prev, host, input.report, ip, at);
      const changes = heard.changes;
      const next = input.facts ? audited(heard.next, await deps.audit(host.id, input.facts), at) : heard.next;
      remember(next);
      dirty.add(host.id);
      for (const c of changes) await deps.record(eventOf(next, c));
      if (changes.length) await putNow(next);
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

    /** One pass over the watched hosts: raises `host.unreachable` for each that has now missed too many heartbeats. */
    check(): Promise<void> {
      checking = checking.then(async () => {
        const at = now();
        for (const h of [...health.values()]) {
          if (!missedTooMany(h, rules, at, watchFrom)) continue;
          await raiseUnreachable(h, at).catch((err: unknown) =>
            log.warn({ err: (err as Error).message, host: h.hostName }, 'heartbeat: unreachable check failed'),
          );
        }
      });
      return checking;
    },

    /** Writes every changed host's health in one batch. */
    flush(): Promise<void> {
      flushing = flushing.then(async () => {
        const rows = [...dirty].flatMap((id) => health.get(id) ?? []);
        dirty.clear();
        await store.put(rows).catch((err: unknown) => {
          for (const r of rows) dirty.add(r.hostId);
          log.warn({ err: (err as Error).message, rows: rows.length }, 'heartbeat: could not write health; retried');
        });
      });
      return flushing;
    },

    /** Loads the stored health, then checks and flushes on the config's intervals. */
    async start(): Promise<void> {
      for (const h of await store.list(iso(0))) remember(h);
      watchFrom = now();
      timers.push(setInterval(() => void this.check(), config.checkSeconds * 1000).unref());
      timers.push(setInterval(() => void this.flush(), config.flushSeconds * 1000).unref());
    },

    /** Stops the timers and writes what is still unwritten. */
    async close(): Promise<void> {
      for (const t of timers) clearInterval(t);
      timers.length = 0;
      await checking;
      await this.flush();
    },
  };
}

/** The heartbeat service's type. */
export type HeartbeatService = ReturnType<typeof createHeartbeatService>;

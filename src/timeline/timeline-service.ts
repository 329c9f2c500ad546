/**
 * The boot timeline service (issue 13): keeps each host's current boot
 * session (in memory, persisted so a restart keeps it), mints a session when
 * a boot starts, files stage observations under their session, writes them
 * in batches to a store of their own (never the event log), and checks
 * silent hosts against their deadlines on an injectable clock: a stall
 * raises one `boot.stalled` event. The decisions are the stage model's
 * (stage-model.ts); this file holds the state and the I/O.
 *
 * Stalls are judged from the store, not from one controller's memory: every
 * controller writes the sessions it observes each second, and the one holding
 * the elected `boot-stalls` role (docs/adr/0013) checks each MAC's newest
 * stored session and writes the stall with its event in one transaction,
 * fenced by its term and only while the row is the one it judged.
 */
import type { Kysely } from 'kysely';
import { bootSessionId, isBootSessionId } from '../boot/boot-session.js';
import type { NewEvent } from '../event/event.js';
import type { Database } from '../schema.js';
import { silentLogger, type Logger } from '../log/logger.js';
import type { Mac } from '../net/mac.js';
import {
  advance,
  carryHandoff,
  checkStall,
  deadlineOf,
  describeSession,
  expectedNext,
  newSession,
  opensSession,
  QUEUED_PROGRESS_MS,
  repeatsAsProgress,
  statusOf,
  type Observation,
  type SessionState,
  type Stage,
  withHandoffTime,
} from './stage-model.js';
import type { ObservationRow, SessionRow, StallCandidate, TimelineStore } from './sql-timeline-store.js';
import { rulesOf, type TimelineConfig } from './timeline-config.js';
import { createCompletionLog } from './completions.js';

/** Whom an observation is about: the boot MAC, an address (a lease, or one the timeline learned), or a host. */
export type ObservationTarget = { mac: Mac } | { ip: string } | { hostId: string };

/** An observation as a server reports it; `at` defaults to now; `session` is what the node claimed (header), used when it is one of the host's. */
export type ObservationInput = Omit<Observation, 'at'> & { at?: number; session?: string | undefined };

/** Boots in progress, those of them late at their stage, and boots completed (`bootLoad`). */
export interface BootLoad {
  inProgress: number;
  late: number;
  /** Boot sessions opened since start (cumulative). */
  started: number;
  completed: number;
  completedPerS: number;
  /** The median of the boots completed lately (completions.ts), or null. */
  medianMs: number | null;
}

/** A host as the timeline needs it. */
export interface TimelineHost {
  id: string;
  name: string;
  macs: readonly Mac[];
}

export interface TimelineLookups {
  hostByMac(mac: Mac): Promise<TimelineHost | null>;
  hostById(id: string): Promise<TimelineHost | null>;
  /** The MAC holding a bound lease on `ip`, or null. */
  leaseOwner(ip: string): Promise<Mac | null>;
}

export interface TimelineServiceDeps {
  store: TimelineStore;
  config: TimelineConfig;
  lookups: TimelineLookups;
  /** Appends one event (boot.stalled) in the transaction `tx`, with the stall it reports. */
  recordIn: (tx: Kysely<Database>, e: NewEvent) => Promise<void>;
  /** Runs `fn` in one plain transaction (the default write of `check`; the `boot-stalls` holder passes its fenced one). */
  transaction: StallWrite;
  /**
   * How far a stored session's progress may lag what another controller observed (its batch write, each second,
   * on PostgreSQL with several controllers; 0 on SQLite): a stall is judged this much later.
   */
  writeLagMs?: number;
  now?: () => number;
  log?: Logger;
  /** Hosts whose current session is kept in memory (least recently seen forgotten first; their row stays in the store). */
  maxHosts?: number;
  /** Observations waiting to be written; beyond it the oldest waiting one is dropped and counted. */
  maxPending?: number;
  /** Told of every observation filed through `observe` (DHCP, TFTP, HTTP, node calls), with the MAC it was filed under. */
  onObserved?: (mac: Mac, o: Observation) => void;
}

/**
 * Runs `fn` in one transaction and says whether it ran: the `boot-stalls` holder passes its fenced write (false:
 * another controller holds a newer term, nothing was written).
 */
export type StallWrite = (fn: (tx: Kysely<Database>) => Promise<void>) => Promise<boolean>;

/** Sessions updated within this long are judged for stalls (longer silences are stalled or done long ago). */
const STALL_WINDOW_MS = 86_400_000;

/** Sessions read per page of the stall check (a page is about 1–3 ms of the event loop's time). */
const STALL_PAGE_SESSIONS = 250;

/** One session as the API shows it. */
export interface SessionView {
  session: string;
  mac: string;
  hostId: string | null;
  hostName: string;
  startedAt: string;
  updatedAt: string;
  firmware: string;
  arch: string | null;
  purpose: string;
  reached: Stage | null;
  expected: Stage | null;
  status: ReturnType<typeof statusOf>;
  summary: string;
}

/** A session with its observations in order. */
export interface TimelineView extends SessionView {
  stages: Array<{ at: string; stage: string; outcome: string; detail: string }>;
}

interface Current {
  mac: Mac;
  hostId: string | null;
  hostName: string;
  state: SessionState;
}

const iso = (ms: number) => new Date(ms).toISOString();
/** Whether `b` says what `a` said (all but its time): a repeat of the session's last observation says the same. */
const sameContent = (a: Omit<Observation, 'at'> | undefined, b: Omit<Observation, 'at'>): boolean =>
  a !== undefined &&
  a.detail === b.detail &&
  a.stage === b.stage &&
  a.outcome === b.outcome &&
  (a.final === true) === (b.final === true) &&
  (a.firmware ?? '') === (b.firmware ?? '') &&
  (a.arch ?? '') === (b.arch ?? '') &&
  (a.purpose ?? '') === (b.purpose ?? '');
/** The session moved on only in its last-seen time. */
const onlyLastAtMoved = (a: SessionState, b: SessionState): boolean =>
  a.id === b.id &&
  a.reached === b.reached &&
  a.progressAt === b.progressAt &&
  a.purpose === b.purpose &&
  a.firmware === b.firmware &&
  a.arch === b.arch &&
  a.failure === b.failure &&
  a.stalled === b.stalled;
/** A session whose repeats alone moved its last-seen time is written again at most this often. */
const REPEAT_SAVE_MS = 60_000;
/** A stored session's state, or null when this version cannot read it. */
const parseState = (state: string): SessionState | null => {
  try {
    return JSON.parse(state) as SessionState;
  } catch {
    return null;
  }
};
const macName = (mac: Mac) => `node-${mac.replace(/:/g, '')}`;
const MAX_ADDRESSES = 100_000;
const MAX_OBSERVATIONS_SHOWN = 2000;
const PRUNE_EVERY_MS = 3600_000;

export function createTimelineService(deps: TimelineServiceDeps) {
  const { store, lookups } = deps;
  const rules = rulesOf(deps.config);
  const now = deps.now ?? Date.now;
  const log = deps.log ?? silentLogger;
  const maxHosts = deps.maxHosts ?? 100_000;
  const maxPending = deps.maxPending ?? 50_000;
  const current = new Map<Mac, Current>();
  const addresses = new Map<string, Mac>();
  const dirty = new Map<string, Current>();
  /** Per MAC: the current session's last observation, and the last-seen time its stored row has. */
  const lastSeen = new Map<Mac, Observation>();
  const savedLastAt = new Map<Mac, number>();
  let pending: ObservationRow[] = [];
  let dropped = 0;
  /** Boots seen to complete in this process, with their durations (admission control, completions.ts). */
  const completions = createCompletionLog();
  /** Boot sessions opened in this process (admission control: have the machines it powered on shown up?). */
  let started = 0;
  let writing: Promise<void> = Promise.resolve();
  const timers: NodeJS.Timeout[] = [];

  const remember = <K, V>(m: Map<K, V>, k: K, v: V, max: number) => {
    m.delete(k);
    if (m.size >= max) m.delete(m.keys().next().value!);
    m.set(k, v);
  };
  const markDirty = (c: Current) => {
    dirty.set(`${c.mac} ${c.state.id}`, c);
    remember(savedLastAt, c.mac, c.state.lastAt, maxHosts);
  };

  const rowOf = (c: Current): SessionRow => ({
    mac: c.mac,
    sessionId: c.state.id,
    hostId: c.hostId,
    hostName: c.hostName,
    startedAt: iso(c.state.startedAt),
    updatedAt: iso(c.state.lastAt),
    state: JSON.stringify(c.state),
  });

  /** A session id not used by this host yet (the same boot time twice in one millisecond is moved on by one). */
  const mint = (c: Current | undefined, hostName: string, at: number): string => {
    let id: string = bootSessionId(hostName, new Date(at));
    for (let t = at + 1; c && c.state.id === id; t++) id = bootSessionId(hostName, new Date(t));
    return id;
  };

  /**
   * Files `o` under the MAC's session (a new one when it starts a boot). Synchronous: no await between read and
   * write. A repeat (the same content as the session's last observation, changing nothing but its last-seen
   * time: a retried script fetch, a retransmission) is not stored again; the session's row is rewritten for
   * repeats at most once a minute. Boots are recorded, not fetches.
   */
  function apply(mac: Mac, host: Pick<TimelineHost, 'id' | 'name'> | null, seen: Observation): Current {
    const before = current.get(mac);
    const hostName = host?.name ?? before?.hostName ?? macName(mac);
    const opened = !before || opensSession(before.state, seen, rules);
    let c: Current;
    if (opened) {
      const id = mint(before, hostName, seen.at);
      c = { mac, hostId: host?.id ?? null, hostName, state: carryHandoff(before?.state, newSession(id, seen)) };
      started++;
      log.info({ mac, host: hostName, session: id, stage: seen.stage }, 'timeline: boot session started');
    } else c = before;
    const o = withHandoffTime(c.state, seen);
    if (
      !opened &&
      sameContent(lastSeen.get(mac), o) &&
      (host?.id ?? c.hostId) === c.hostId &&
      hostName === c.hostName
    ) {
      const state = advance(c.state, o);
      if (onlyLastAtMoved(c.state, state)) {
        // In place: a repeat (thousands a second in a storm) leaves no new object behind that lives until the
        // host's next fetch (such middle-aged objects are what makes the young generation's collections slow).
        // Nothing outside this service holds a session state; a row not yet written reads the newer time.
        if (state.handoff === c.state.handoff) c.state.lastAt = state.lastAt;
        else c = { ...c, state };
        remember(current, mac, c, maxHosts);
        if (state.lastAt - (savedLastAt.get(mac) ?? 0) >= REPEAT_SAVE_MS) markDirty(c);
        return c;
      }
    }
    const wasComplete = statusOf(c.state) === 'complete';
    c = { ...c, hostId: host?.id ?? c.hostId, hostName, state: advance(c.state, o) };
    if (!wasComplete && statusOf(c.state) === 'complete') completions.add(o.at, c.state.lastAt - c.state.startedAt);
    remember(current, mac, c, maxHosts);
    remember(lastSeen, mac, o, maxHosts);
    markDirty(c);
    if (pending.length >= maxPending) {
      pending.shift();
      dropped++;
    }
    pending.push({ mac, sessionId: c.state.id, at: iso(o.at), stage: o.stage, outcome: o.outcome, detail: o.detail });
    return c;
  }

  /**
   * `apply`'s repeat for an observation of the session's host that moves nothing but the session's last-seen
   * time (an ok observation of a stage that is not progress when repeated, the same content as the session's
   * last): decided without building the observation, and done in place. False: `apply` decides.
   */
  function repeatInPlace(c: Current, input: ObservationInput, at: number): boolean {
    if (input.outcome !== 'ok' || input.stage === 'installed' || input.stage === 'first-boot') return false;
    if (repeatsAsProgress(input.stage) || !sameContent(lastSeen.get(c.mac), input)) return false;
    // A queued host's wait is progress now and then (stage-model.ts QUEUED_PROGRESS_MS): not a mere repeat.
    if (input.purpose === 'queued' && at - c.state.progressAt >= QUEUED_PROGRESS_MS) return false;
    const probe: Observation = {
      at,
      stage: input.stage,
      outcome: input.outcome,
      reboot: input.reboot === true,
      detail: '',
    };
    if (opensSession(c.state, probe, rules)) return false;
    c.state.lastAt = Math.max(c.state.lastAt, at);
    remember(current, c.mac, c, maxHosts);
    if (c.state.lastAt - (savedLastAt.get(c.mac) ?? 0) >= REPEAT_SAVE_MS) markDirty(c);
    return true;
  }

  /** The host of `mac`: the one its current session names (no store read on the boot path), else looked up. */
  async function hostOf(mac: Mac): Promise<TimelineHost | null> {
    const c = current.get(mac);
    if (c?.hostId) return { id: c.hostId, name: c.hostName, macs: [mac] };
    return lookups.hostByMac(mac);
  }

  async function macOf(t: ObservationTarget): Promise<{ mac: Mac; host: TimelineHost | null } | null> {
    if ('mac' in t) return { mac: t.mac, host: await hostOf(t.mac) };
    if ('hostId' in t) {
      const host = await lookups.hostById(t.hostId);
      if (!host) return null;
      // The MAC this host is booting with: the one with a current session, else its first.
      const mac = host.macs.find((m) => current.has(m)) ?? host.macs[0];
      return mac ? { mac, host } : null;
    }
    const mac = addresses.get(t.ip) ?? (await lookups.leaseOwner(t.ip));
    return mac ? { mac, host: await hostOf(mac) } : null;
  }

  async function observe(t: ObservationTarget, input: ObservationInput): Promise<string | null> {
    try {
      const who = await macOf(t);
      if (!who) {
        log.debug({ target: t, stage: input.stage }, 'timeline: observation of an unknown machine dropped');
        return null;
      }
      if ('ip' in t) remember(addresses, t.ip, who.mac, MAX_ADDRESSES);
      const { session, ...rest } = input;
      const o: Observation = { ...rest, at: input.at ?? now() };
      // A node that names its session is filed there when that session is this host's current one; an old or
      // unknown id is noted and the observation joins the current session (a node cannot open or pick sessions).
      const c = current.get(who.mac);
      if (session !== undefined && c && session !== c.state.id)
        log.debug(
          { mac: who.mac, claimed: isBootSessionId(session) ? session : '(malformed)', current: c.state.id },
          'timeline: node named another session',
        );
      const id = apply(who.mac, who.host, o).state.id;
      deps.onObserved?.(who.mac, o);
      return id;
    } catch (err) {
      log.warn({ err: (err as Error).message, stage: input.stage }, 'timeline: observation lost');
      return null;
    }
  }

  function view(c: Pick<Current, 'mac' | 'hostId' | 'hostName' | 'state'>): SessionView {
    const s = c.state;
    return {
      session: s.id,
      mac: c.mac,
      hostId: c.hostId,
      hostName: c.hostName,
      startedAt: iso(s.startedAt),
      updatedAt: iso(s.lastAt),
      firmware: s.firmware,
      arch: s.arch,
      purpose: s.purpose,
      reached: s.reached,
      expected: expectedNext(s),
      status: statusOf(s),
      summary: describeSession(s, rules),
    };
  }

  const fromRow = (r: SessionRow): Current => ({
    mac: r.mac as Mac,
    hostId: r.hostId,
    hostName: r.hostName,
    state: JSON.parse(r.state) as SessionState,
  });
  /** A stored session as the API shows it: the one in memory when it is the MAC's current one (its row may lag by repeats). */
  const shown = (r: SessionRow): Current => {
    const c = current.get(r.mac as Mac);
    return c && c.state.id === r.sessionId ? c : fromRow(r);
  };

  function flush(): Promise<void> {
    const sessions = [...dirty.values()].map(rowOf);
    const observations = pending;
    dirty.clear();
    pending = [];
    if (dropped > 0) {
      log.warn({ dropped }, 'timeline: observations dropped (write queue full)');
      dropped = 0;
    }
    writing = writing.then(() =>
      store.write(sessions, observations).catch((err: unknown) => {
        log.warn(
          { err: (err as Error).message, observations: observations.length },
          'timeline: batch write failed; retrying with the next one',
        );
        for (const s of sessions) {
          const c = current.get(s.mac as Mac);
          if (c && c.state.id === s.sessionId) markDirty(c);
        }
        pending = [...observations, ...pending].slice(-maxPending);
      }),
    );
    return writing;
  }

  /**
   * Judges one candidate and, when it is past its deadline, raises `boot.stalled` through `write` (the stall and its
   * event in one transaction): `refused` when the write was refused (the role moved).
   */
  async function judgeStall(row: StallCandidate, t: number, write: StallWrite): Promise<'raised' | 'none' | 'refused'> {
    const stored = parseState(row.state);
    if (!stored || row.stallReported === iso(stored.progressAt)) return 'none';
    const r = checkStall(stored, t - (deps.writeLagMs ?? 0), rules);
    const stall = r.raised;
    if (!stall) return 'none';
    const c: Current = { mac: row.mac as Mac, hostId: row.hostId, hostName: row.hostName, state: r.session };
    const summary = describeSession(r.session, rules);
    let marked = false;
    const ok = await write(async (tx) => {
      marked = await store.markStalled(tx, row, JSON.stringify(r.session), iso(stored.progressAt));
      if (!marked) return;
      await deps.recordIn(tx, {
        actor: 'timeline',
        kind: 'boot.stalled',
        hostId: c.hostId,
        subject: c.hostName,
        message: `${c.hostName} (${c.mac}) boot session ${stored.id}: ${summary}`,
        data: {
          mac: c.mac,
          session: stored.id,
          after: stall.after,
          expected: stall.expected,
          seconds: stall.seconds,
          firmware: r.session.firmware,
        },
      });
    });
    if (!ok) return 'refused';
    if (!marked) return 'none'; // observed meanwhile: judged again next pass
    log.warn({ mac: c.mac, host: c.hostName, session: stored.id }, `timeline: ${c.hostName} ${summary}`);
    // This controller's copy of the session says so too, when it holds the same session at the same progress.
    const mine = current.get(c.mac);
    if (mine && mine.state.id === stored.id && mine.state.progressAt === stored.progressAt)
      current.set(c.mac, { ...mine, state: { ...mine.state, stalled: stall } });
    return 'raised';
  }

  /**
   * Checks each MAC's newest stored session against its deadline (after writing what this controller observed);
   * raises `boot.stalled` once per stall through `write`, the stall and its event in one transaction. Stops at
   * the first refused write (the role moved). Returns the number raised. Reads the sessions a page at a time and
   * lets the event loop run between pages: one read of every session of the last day was a single synchronous
   * run of 54–128 ms at 10 000 sessions (SQLite), every `checkSeconds`, that every answer waited behind.
   */
  async function check(write: StallWrite = deps.transaction): Promise<number> {
    await flush();
    const t = now();
    const since = iso(t - STALL_WINDOW_MS);
    let raised = 0;
    let afterMac: string | null = null;
    do {
      const page = await store.stallCandidates({ since, afterMac, limit: STALL_PAGE_SESSIONS });
      for (const row of page.candidates) {
        const r = await judgeStall(row, t, write);
        if (r === 'refused') return raised;
        if (r === 'raised') raised++;
      }
      afterMac = page.nextMac;
      if (afterMac !== null) await new Promise<void>((resolve) => setImmediate(resolve));
    } while (afterMac !== null);
    return raised;
  }

  async function prune(): Promise<void> {
    await flush();
    const n = await store.prune({
      before: iso(now() - deps.config.retention.days * 86_400_000),
      perMac: deps.config.retention.sessionsPerHost,
    });
    if (n > 0) log.info({ sessions: n }, 'timeline: old boot sessions pruned');
  }

  return {
    observe,

    /**
     * The boots admission control weighs, from memory: boots in progress (neither complete nor failed, heard from in
     * the last ten minutes: a stalled boot counts, since a deadline passed is not the end of its downloads), those
     * of them late (stalled, or more than `lateFraction` of their expected stage's deadline gone since their last
     * progress), and the boots completed: since start, per second lately, and the median of those (completions.ts).
     */
    bootLoad(lateFraction = 0.5): BootLoad {
      const at = now();
      const since = at - 600_000;
      let inProgress = 0;
      let late = 0;
      for (const c of current.values()) {
        const st = c.state;
        if (st.lastAt < since || st.failure?.final) continue;
        const next = expectedNext(st);
        if (next === null) continue;
        inProgress++;
        if (st.stalled) late++;
        else if (next !== 'dhcp' && at - st.progressAt > lateFraction * deadlineOf(next, st.firmware, rules) * 1000)
          late++;
      }
      const done = completions.summary(at);
      return {
        inProgress,
        late,
        started,
        completed: done.total,
        completedPerS: done.perSecond,
        medianMs: done.medianMs,
      };
    },

    /**
     * Files an observation of a host the caller already holds (the boot service, for each script it serves):
     * no lookup, no wait. Returns the session id.
     */
    observeHost(mac: Mac, host: Pick<TimelineHost, 'id' | 'name'>, input: ObservationInput): string | null {
      try {
        const at = input.at ?? now();
        const c = current.get(mac);
        if (c !== undefined && c.hostId === host.id && c.hostName === host.name && repeatInPlace(c, input, at))
          return c.state.id;
        const { session: _claimed, ...rest } = input;
        return apply(mac, host, { ...rest, at }).state.id;
      } catch (err) {
        log.warn({ err: (err as Error).message, stage: input.stage }, 'timeline: observation lost');
        return null;
      }
    },

    /** Learns that `ip` is `mac`'s address now (DHCP ACK, a script fetch), for observations that carry only an address. */
    learnAddress(ip: string, mac: Mac): void {
      if (ip && ip !== '0.0.0.0') remember(addresses, ip, mac, MAX_ADDRESSES);
    },

    /**
     * The session a script served now belongs to (for `kiln.session=` on the kernel command line): the
     * current one, or a new one when this fetch starts a boot (an iPXE script request after the host got further).
     */
    sessionFor(mac: Mac, host: Pick<TimelineHost, 'id' | 'name'>): string {
      const c = current.get(mac);
      const probe: Observation = { at: now(), stage: 'ipxe-script', outcome: 'ok', detail: '' };
      if (c && !opensSession(c.state, probe, rules)) return c.state.id;
      const id = mint(c, host.name, probe.at);
      const fresh: Current = {
        mac,
        hostId: host.id,
        hostName: host.name,
        state: carryHandoff(c?.state, newSession(id, probe)),
      };
      remember(current, mac, fresh, maxHosts);
      lastSeen.delete(mac);
      markDirty(fresh);
      log.info({ mac, host: host.name, session: id, stage: 'ipxe-script' }, 'timeline: boot session started');
      return id;
    },

    /** The current session id of a host's boot MAC (null: none yet). */
    currentSession: (mac: Mac): string | null => current.get(mac)?.state.id ?? null,

    check,
    flush,

    /** A host's sessions, newest first. */
    async sessions(host: TimelineHost, limit = 100): Promise<SessionView[]> {
      await flush();
      const rows = await store.listSessions({ macs: host.macs, hostId: host.id, limit });
      return rows.map((r) => view(shown(r)));
    },

    /** One session's timeline (default: the host's newest), or null when it has none. */
    async timeline(host: TimelineHost, session?: string): Promise<TimelineView | null> {
      await flush();
      const rows = await store.listSessions({ macs: host.macs, hostId: host.id, limit: session ? 10_000 : 1 });
      const row = session ? rows.find((r) => r.sessionId === session) : rows[0];
      if (!row) return null;
      const obs = await store.listObservations(row.mac, row.sessionId, MAX_OBSERVATIONS_SHOWN);
      return {
        ...view(shown(row)),
        stages: obs.map((o) => ({ at: o.at, stage: o.stage, outcome: o.outcome, detail: o.detail })),
      };
    },

    /**
     * Loads the current sessions (those active within the session gap and a day) and starts the timers.
     * `prune: false` leaves retention pruning to the caller (`prune()`, on the member holding `log-pruning`);
     * `check: false` leaves stall checks to the caller (`check(write)`, on the member holding `boot-stalls`).
     */
    async start(o: { prune?: boolean; check?: boolean } = {}): Promise<void> {
      const since = iso(now() - Math.max(rules.sessionGapSeconds * 1000, 86_400_000));
      for (const r of await store.listRecentSessions(since)) {
        const c = fromRow(r);
        remember(current, c.mac, c, maxHosts);
      }
      const every = (ms: number, f: () => Promise<unknown>) => {
        const t = setInterval(() => {
          f().catch((err: unknown) => log.warn({ err: (err as Error).message }, 'timeline: periodic task failed'));
        }, ms);
        t.unref();
        timers.push(t);
      };
      every(1000, flush);
      if (o.check !== false) every(deps.config.checkSeconds * 1000, () => check());
      if (o.prune !== false) every(PRUNE_EVERY_MS, prune);
    },

    /** Removes sessions past retention (days, and sessions per host) after writing what is waiting. */
    prune,

    /** How often the `boot-stalls` holder runs `check`. */
    checkEveryMs: deps.config.checkSeconds * 1000,

    /** How often `start()` prunes on its own. */
    pruneEveryMs: PRUNE_EVERY_MS,

    /** Stops the timers and writes what is waiting. */
    async close(): Promise<void> {
      for (const t of timers) clearInterval(t);
      timers.length = 0;
      await flush();
    },
  };
}

/** The timeline service's type. */
export type TimelineService = ReturnType<typeof createTimelineService>;

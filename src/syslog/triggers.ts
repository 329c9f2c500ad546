/**
 * Triggers: operator patterns (and the shipped library) over received syslog
 * lines. A match records one `syslog.trigger` event (and so reaches hooks);
 * it never changes a host. Throttled per (host or source address, trigger):
 * at most one event per `throttleMs`, the next one counting what was held
 * back; and at most `maxPerMinute` events in all, so a flood of matching
 * lines from spoofed addresses cannot flood the event log.
 */
import type { NewEvent } from '../event/event.js';
import { linearRegExp } from './linear-regex.js';
import { literalPrefilter } from './literal-prefilter.js';
import { TRIGGER_LIBRARY, type TriggerSpec } from './trigger-library.js';
import type { SyslogConfig } from './syslog-config.js';
import type { NewSyslogMessage } from './syslog-message-row.js';

interface CompiledTrigger extends TriggerSpec {
  re: RegExp;
  /** False only for a line `re` cannot match (literal-prefilter.ts): most lines skip the slower linear engine. */
  maybe: (text: string) => boolean;
}

/** Compiles the triggers; throws an Error naming the first bad one (the config check reports it). */
export function compileTriggers(specs: readonly TriggerSpec[]): CompiledTrigger[] {
  const names = new Set<string>();
  return specs.map((s) => {
    if (names.has(s.name)) throw new Error(`trigger ${s.name}: the name is used twice`);
    names.add(s.name);
    try {
      return { ...s, re: linearRegExp(s.pattern), maybe: literalPrefilter(s.pattern) };
    } catch (err) {
      throw new Error(`trigger ${s.name}: ${(err as Error).message}`, { cause: err });
    }
  });
}

/** Throttle keys remembered; beyond it the oldest is forgotten (a flood of spoofed addresses stays bounded). */
const MAX_KEYS = 10_000;
/** Text of the line kept in the event. */
const EVENT_TEXT = 500;

export interface TriggerRunnerDeps {
  triggers: readonly CompiledTrigger[];
  throttleMs: number;
  maxPerMinute?: number;
  /** A host name given in a trigger, as the host's id (null: no such host; the trigger's value is then compared as an id). */
  hostIdByName: (name: string) => Promise<string | null>;
  record: (e: NewEvent) => Promise<void>;
  onRecordFailed?: (err: unknown) => void;
  now?: () => number;
}

export function createTriggerRunner(deps: TriggerRunnerDeps) {
  const now = deps.now ?? Date.now;
  const maxPerMinute = deps.maxPerMinute ?? 120;
  const last = new Map<string, { at: number; held: number }>();
  let minute = { start: 0, count: 0 };
  let dropped = 0;

  /** Checks one written batch; records the events (not awaited by the ingest path: it returns at once). */
  async function check(rows: readonly NewSyslogMessage[]): Promise<number> {
    if (deps.triggers.length === 0) return 0;
    const hostOf = new Map<string, string>();
    for (const t of deps.triggers)
      if (t.host !== undefined && !hostOf.has(t.host)) hostOf.set(t.host, (await deps.hostIdByName(t.host)) ?? t.host);
    const pending: Array<Promise<void>> = [];
    for (const r of rows) {
      for (const t of deps.triggers) {
        if (t.severity !== undefined && r.severity > t.severity) continue;
        if (t.host !== undefined && r.hostId !== hostOf.get(t.host)) continue;
        if (t.session !== undefined && r.sessionId !== t.session) continue;
        if (!t.maybe(r.text) || !t.re.test(r.text)) continue;
        const e = admit(t.name, r);
        if (e) pending.push(deps.record(e).catch((err: unknown) => deps.onRecordFailed?.(err)));
      }
    }
    await Promise.all(pending);
    return pending.length;
  }

  function admit(name: string, r: NewSyslogMessage): NewEvent | null {
    const t = now();
    const key = `${r.hostId ?? `ip:${r.sourceIp}`}\u0000${name}`;
    const prev = last.get(key);
    if (prev && t - prev.at < deps.throttleMs) {
      prev.held++;
      return null;
    }
    if (t - minute.start >= 60_000) minute = { start: t, count: 0 };
    if (minute.count >= maxPerMinute) {
      dropped++;
      return null;
    }
    minute.count++;
    const held = prev?.held ?? 0;
    last.delete(key);
    last.set(key, { at: t, held: 0 });
    if (last.size > MAX_KEYS) last.delete(last.keys().next().value!);
    const who = r.hostId ?? r.sourceIp;
    return {
      actor: 'syslog',
      kind: 'syslog.trigger',
      hostId: r.hostId,
      subject: name,
      message: `syslog trigger ${name} matched a line from ${who}`,
      data: {
        trigger: name,
        sourceIp: r.sourceIp,
        sessionId: r.sessionId,
        severity: r.severity,
        app: r.app,
        text: r.text.slice(0, EVENT_TEXT),
        // Matching lines held back by the throttle since the previous event of this host and trigger.
        heldBack: held,
      },
    };
  }

  return {
    check,
    /** Every trigger's pattern (the ingest worker prefilters rows with them). */
    patterns: (): string[] => deps.triggers.map((t) => t.pattern),
    /** Events not recorded because of the per-minute cap (since start). */
    dropped: () => dropped,
  };
}

/** The trigger runner's type. */
export type TriggerRunner = ReturnType<typeof createTriggerRunner>;

/** The runner for a syslog config: the library (unless turned off; an operator trigger of the same name replaces one) and the operator's triggers. */
export function syslogTriggers(
  config: Pick<SyslogConfig, 'triggers' | 'triggerLibrary' | 'triggerThrottleSeconds'>,
  deps: Omit<TriggerRunnerDeps, 'triggers' | 'throttleMs'>,
): TriggerRunner {
  const own = config.triggers.map((t) => ({ ...t }));
  const library = config.triggerLibrary ? TRIGGER_LIBRARY.filter((l) => !own.some((o) => o.name === l.name)) : [];
  return createTriggerRunner({
    ...deps,
    triggers: compileTriggers([...library, ...own]),
    throttleMs: config.triggerThrottleSeconds * 1000,
  });
}

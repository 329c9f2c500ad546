/**
 * Runs the registered checks (each bounded by a timeout, a throw counted as
 * fail) and remembers each check's last status in memory: a check that turns
 * fail is one `controller.check_failed` event and one count in the failure
 * metric, and the first run that finds it passing again is one
 * `controller.check_recovered` event. A check failing on every run is still
 * one event. Per controller: several controllers on one store each report
 * their own.
 */
import type { NewEvent } from '../event/event.js';
import { silentLogger, type Logger } from '../log/logger.js';
import type { CheckRegistry, CheckResult, CheckStatus } from './check.js';

/** Dependencies of `createDoctor`. */
export interface DoctorDeps {
  checks: CheckRegistry;
  /** Appends an event to the audit log (the inventory's recordEvent). */
  record: (e: NewEvent) => Promise<void>;
  /** Sets the status gauge and counts a transition to fail (metrics.ts); default: none. */
  observe?: (name: string, status: CheckStatus, turnedFailed: boolean) => void;
  /** Longest a check may take before it counts as failed (default 10 s). */
  timeoutMs?: number;
  /** Which controller this is, for event subjects (the host name). */
  controller: string;
  log?: Logger;
  now?: () => number;
}

/** One run's report: every check's result, and the worst status among them. */
export interface DoctorReport {
  status: CheckStatus;
  at: string;
  checks: CheckResult[];
}

const rank: Record<CheckStatus, number> = { ok: 0, warn: 1, fail: 2 };

/** The worst of several statuses (ok for none). */
export function worstStatus(statuses: readonly CheckStatus[]): CheckStatus {
  return statuses.reduce<CheckStatus>((w, s) => (rank[s] > rank[w] ? s : w), 'ok');
}

/** The controller's self-check. `run()` calls made while a run is in flight share that run. */
export function createDoctor(deps: DoctorDeps) {
  const log = deps.log ?? silentLogger;
  const now = deps.now ?? Date.now;
  const timeoutMs = deps.timeoutMs ?? 10_000;
  const last = new Map<string, CheckStatus>();
  let running: Promise<DoctorReport> | null = null;

  async function runOne(check: { name: string; run: (s: AbortSignal) => Promise<Omit<CheckResult, 'name' | 'ms'>> }) {
    const started = now();
    const abort = new AbortController();
    let timer: NodeJS.Timeout | undefined;
    const timeout = new Promise<Omit<CheckResult, 'name' | 'ms'>>((resolve) => {
      timer = setTimeout(() => {
        abort.abort();
        resolve({ status: 'fail', detail: `no answer within ${timeoutMs} ms`, fix: 'see the log of kiln serve' });
      }, timeoutMs);
    });
    const outcome = await Promise.race([
      check.run(abort.signal).catch((err: unknown) => ({
        status: 'fail' as const,
        detail: `the check itself failed: ${(err as Error).message}`,
        fix: 'see the log of kiln serve',
      })),
      timeout,
    ]).finally(() => clearTimeout(timer));
    return { name: check.name, ...outcome, ms: now() - started };
  }

  async function noteTransition(r: CheckResult): Promise<void> {
    const before = last.get(r.name);
    last.set(r.name, r.status);
    const turnedFailed = r.status === 'fail' && before !== 'fail';
    deps.observe?.(r.name, r.status, turnedFailed);
    if (!turnedFailed && !(before === 'fail' && r.status !== 'fail')) return;
    const event: NewEvent = turnedFailed
      ? {
          actor: 'doctor',
          kind: 'controller.check_failed',
          subject: deps.controller,
          message: `self-check ${r.name} failed on ${deps.controller}: ${r.detail}${r.fix ? `; fix: ${r.fix}` : ''}`,
          data: { check: r.name, detail: r.detail, fix: r.fix ?? null },
        }
      : {
          actor: 'doctor',
          kind: 'controller.check_recovered',
          subject: deps.controller,
          message: `self-check ${r.name} passes again on ${deps.controller}: ${r.detail}`,
          data: { check: r.name, status: r.status, detail: r.detail },
        };
    await deps.record(event).catch((err) => {
      // The event log may be the broken thing (the store check): the status is still in the report and the metric.
      log.warn({ err: (err as Error).message, check: r.name }, 'doctor: could not record the check event');
    });
  }

  async function runAll(): Promise<DoctorReport> {
    const checks = await Promise.all(deps.checks.list().map((c) => runOne(c)));
    for (const r of checks) {
      if (r.status !== 'ok') log.warn({ check: r.name, status: r.status, detail: r.detail, fix: r.fix }, 'self-check');
      await noteTransition(r);
    }
    return { status: worstStatus(checks.map((c) => c.status)), at: new Date(now()).toISOString(), checks };
  }

  return {
    /** Runs every check once (concurrently, each bounded) and returns the report. */
    run(): Promise<DoctorReport> {
      running ??= runAll().finally(() => {
        running = null;
      });
      return running;
    },
    /** Runs now and then every `intervalMs` until `signal` aborts; resolves when stopped. Never rejects. */
    async runEvery(intervalMs: number, signal: AbortSignal): Promise<void> {
      while (!signal.aborted) {
        await this.run().catch((err) => log.error({ err: (err as Error).message }, 'doctor run failed'));
        await new Promise<void>((resolve) => {
          const t = setTimeout(resolve, intervalMs);
          signal.addEventListener(
            'abort',
            () => {
              clearTimeout(t);
              resolve();
            },
            { once: true },
          );
        });
      }
    },
  };
}

import { KilnError } from '../error/kiln-error.js';
import { silentLogger, type Logger } from '../log/logger.js';
import type { AdmissionGate } from './admission-gate.js';
import { systemClock, type Clock } from './clock.js';
import type { BootOverride, PowerAction, PowerDriver, PowerState } from './power-driver.js';

/** One thing the queue can ask a driver to do. */
export type PowerOperation =
  | { kind: 'power'; action: PowerAction }
  | { kind: 'status' }
  | { kind: 'boot'; override: BootOverride }
  | { kind: 'media-insert'; imageUrl: string }
  | { kind: 'media-eject' };

/** Who asked for an operation and why; passed through to its reports untouched. Absent for background work (polling). */
export interface PowerOrigin {
  actor: string;
  reason?: string | null;
}

/**
 * What the queue reports for each operation: `started` when it reaches the
 * BMC, then exactly one of `succeeded` or `failed`. `at` is clock time in ms;
 * `error.message` is the BMC's own text (never a password).
 */
export interface PowerReport {
  hostId: string;
  driver: string;
  operation: PowerOperation;
  phase: 'started' | 'succeeded' | 'failed';
  at: number;
  durationMs?: number;
  state?: PowerState;
  error?: { code: string; message: string };
  /** The origin given to `submit` (or the batch item), so reports can name the actor. */
  origin?: PowerOrigin;
}

/** Queue settings; `timeoutMs` bounds each operation, after which it fails with `bmc_timeout` and frees its slot. */
export interface PowerQueueOptions {
  /** Operations in flight at once across all hosts on this controller. */
  maxConcurrent: number;
  timeoutMs: number;
  /** Called synchronously for each report; the caller turns them into events. Must not throw. */
  onReport: (r: PowerReport) => void;
  logger?: Logger;
  clock?: Clock;
}

/**
 * One host of a batch power-on; `boot` is set (typically a one-time network boot) before powering on. `start`
 * replaces both: the host's own start, paced like the others (a deploy's network boot cycles a running machine).
 */
export interface BatchItem {
  hostId: string;
  driver: PowerDriver;
  boot?: BootOverride;
  origin?: PowerOrigin;
  start?: () => Promise<void>;
}

/** The outcome of one host in a batch. */
export interface BatchOutcome {
  hostId: string;
  ok: boolean;
  error?: { code: string; message: string };
}

/** Runs power operations: per-host serial, controller-wide bounded, each with a hard timeout. */
export interface PowerQueue {
  /** Queues one operation; resolves with the power state for `status`, undefined otherwise. Rejects with a KilnError. */
  submit(
    hostId: string,
    driver: PowerDriver,
    op: PowerOperation,
    origin?: PowerOrigin,
  ): Promise<PowerState | undefined>;
  /**
   * Powers on many hosts: host i starts no earlier than i × `staggerMs` after the call, at most `maxParallel` at
   * once, and (with a `gate`) only when the data plane has headroom for one more boot (admission.ts).
   */
  powerOnBatch(
    items: BatchItem[],
    o: { staggerMs: number; maxParallel: number; gate?: AdmissionGate },
  ): Promise<BatchOutcome[]>;
  /** Operations waiting plus running, for metrics. */
  size(): number;
}

function toKilnError(err: unknown): KilnError {
  if (err instanceof KilnError) return err;
  return new KilnError('bmc_error', `power driver failed: ${(err as Error)?.message ?? String(err)}`, { cause: err });
}

function call(driver: PowerDriver, op: PowerOperation, signal: AbortSignal): Promise<PowerState | undefined> {
  switch (op.kind) {
    case 'status':
      return driver.powerStatus({ signal });
    case 'power':
      return driver.setPower(op.action, { signal }).then(() => undefined);
    case 'boot':
      return driver.setBootDevice(op.override, { signal }).then(() => undefined);
    case 'media-insert':
      return driver.insertMedia(op.imageUrl, { signal }).then(() => undefined);
    case 'media-eject':
      return driver.ejectMedia({ signal }).then(() => undefined);
  }
}

/** Creates a queue. It holds no timers while idle; nothing needs closing. */
export function createPowerQueue(o: PowerQueueOptions): PowerQueue {
  const clock = o.clock ?? systemClock;
  const logger = o.logger ?? silentLogger;
  const hostTail = new Map<string, Promise<void>>();
  const waiting: Array<() => void> = [];
  let running = 0;
  let pending = 0;

  const acquire = (): Promise<void> => {
    if (running < o.maxConcurrent) {
      running++;
      return Promise.resolve();
    }
    return new Promise((r) => waiting.push(r));
  };
  const release = (): void => {
    const next = waiting.shift();
    if (next) next();
    else running--;
  };
  const report = (r: PowerReport): void => {
    try {
      o.onReport(r);
    } catch (err) {
      logger.error({ err }, 'power report callback threw');
    }
  };

  async function runOne(
    hostId: string,
    driver: PowerDriver,
    op: PowerOperation,
    origin?: PowerOrigin,
  ): Promise<PowerState | undefined> {
    await acquire();
    const started = clock.now();
    const from = origin ? { origin } : {};
    report({ hostId, driver: driver.driver, operation: op, phase: 'started', at: started, ...from });
    const ac = new AbortController();
    const timer = new AbortController();
    const timeout = clock.sleep(o.timeoutMs, timer.signal).then(
      () => {
        ac.abort();
        throw new KilnError(
          'bmc_timeout',
          `BMC for host ${hostId} did not finish ${describeOperation(op)} within ${o.timeoutMs} ms`,
          { details: { hostId } },
        );
      },
      () =>
        new Promise<never>(() => {
          /* cancelled: the operation finished first */
        }),
    );
    try {
      const state = await Promise.race([call(driver, op, ac.signal), timeout]);
      report({
        hostId,
        driver: driver.driver,
        operation: op,
        phase: 'succeeded',
        at: clock.now(),
        durationMs: clock.now() - started,
        ...(state ? { state } : {}),
        ...from,
      });
      return state;
    } catch (err) {
      const e = toKilnError(err);
      report({
        hostId,
        driver: driver.driver,
        operation: op,
        phase: 'failed',
        at: clock.now(),
        durationMs: clock.now() - started,
        error: { code: e.code, message: e.message },
        ...from,
      });
      logger.warn({ hostId, operation: describeOperation(op), code: e.code, err: e.message }, 'power operation failed');
      throw e;
    } finally {
      timer.abort();
      release();
    }
  }

  function submit(
    hostId: string,
    driver: PowerDriver,
    op: PowerOperation,
    origin?: PowerOrigin,
  ): Promise<PowerState | undefined> {
    pending++;
    const prev = hostTail.get(hostId) ?? Promise.resolve();
    const result = prev.then(() => runOne(hostId, driver, op, origin));
    const tail = result.then(
      () => undefined,
      () => undefined,
    );
    hostTail.set(hostId, tail);
    void tail.then(() => {
      pending--;
      if (hostTail.get(hostId) === tail) hostTail.delete(hostId);
    });
    return result;
  }

  async function powerOnBatch(
    items: BatchItem[],
    b: { staggerMs: number; maxParallel: number; gate?: AdmissionGate },
  ): Promise<BatchOutcome[]> {
    const t0 = clock.now();
    const outcomes = new Array<BatchOutcome>(items.length);
    let next = 0;
    const worker = async (): Promise<void> => {
      while (next < items.length) {
        const i = next++;
        const item = items[i];
        const due = t0 + i * b.staggerMs - clock.now();
        if (due > 0) await clock.sleep(due);
        await b.gate?.acquire();
        try {
          if (item.start) await item.start();
          else {
            if (item.boot) await submit(item.hostId, item.driver, { kind: 'boot', override: item.boot }, item.origin);
            await submit(item.hostId, item.driver, { kind: 'power', action: 'on' }, item.origin);
          }
          outcomes[i] = { hostId: item.hostId, ok: true };
        } catch (err) {
          const e = toKilnError(err);
          outcomes[i] = { hostId: item.hostId, ok: false, error: { code: e.code, message: e.message } };
        }
      }
    };
    await Promise.all(Array.from({ length: Math.max(1, Math.min(b.maxParallel, items.length)) }, worker));
    return outcomes;
  }

  return { submit, powerOnBatch, size: () => pending };
}

/** A short human label for an operation (`power on`, `boot network once`), for logs and events. */
export function describeOperation(op: PowerOperation): string {
  switch (op.kind) {
    case 'power':
      return `power ${op.action}`;
    case 'status':
      return 'power status';
    case 'boot':
      return `boot ${op.override.device} ${op.override.persistent ? 'persistent' : 'once'}`;
    case 'media-insert':
      return 'media insert';
    case 'media-eject':
      return 'media eject';
  }
}

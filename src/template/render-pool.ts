/**
 * Renders profile templates in worker threads, off the main event loop, with
 * hard limits: a render that runs past `timeoutMs` has its worker killed
 * (`terminate()`, which stops even a loop that never returns to liquidjs) and
 * replaced; output past `maxOutputBytes` stops the render where it is
 * written; a worker that exhausts its heap dies alone. liquidjs' own limits
 * (time between tags, memory charged by filters) run inside as a first line
 * and give the nicer error (file and line) when they catch a template first.
 *
 * Workers start on the first render and are reused; jobs beyond the free
 * workers wait in a bounded queue.
 */
import type { Worker } from 'node:worker_threads';
import { KilnError } from '../error/kiln-error.js';
import { silentLogger, type Logger } from '../log/logger.js';
import { startModuleWorker } from '../runtime/module-worker.js';
import type { RenderContext } from './render-context.js';
import type { RenderFailure, RenderWorkerReply, RenderWorkerRequest } from './render-worker.js';
import type { RenderLimits } from './sandbox.js';
import { toTemplateError, type LocateFn } from './template-error.js';

/**
 * The templates one render reads: a profile's template texts by virtual path,
 * their digest (the worker's cache key) and how a position is shown. A
 * LoadedProfile is one; the pool needs no more of it.
 */
export interface TemplateSet {
  readonly name: string;
  readonly digest: string;
  readonly sources: ReadonlyMap<string, string>;
  readonly locate: LocateFn;
}

/** Renders templates of a loaded profile; the controller's only way to run a template. */
export interface TemplateRenderer {
  /**
   * Renders `paths` (virtual template paths of `profile`) for `context`, in
   * order, sharing one output budget; resolves path → text. Rejects with
   * template_error (time, output or memory limit, or a template error naming
   * file and line) or rate_limited (too many renders waiting).
   */
  render(profile: TemplateSet, paths: readonly string[], context: RenderContext): Promise<Map<string, string>>;
  /** Counters for metrics and tests. */
  stats(): { workers: number; busy: number; queued: number; rendered: number; killed: number };
  /** Rejects waiting renders and stops the workers. Idempotent. */
  close(): Promise<void>;
}

export interface TemplateRendererOptions {
  /** Wall-clock limit of one render job, in ms (`template-timeout-ms`). */
  timeoutMs: number;
  /** Most rendered text one job may produce, in bytes (`template-max-output-kib` × 1024). */
  maxOutputBytes: number;
  /** Worker threads. @default 1 */
  workers?: number;
  /** Jobs that may wait for a worker before new ones are refused. @default 32 */
  maxQueued?: number;
  /** liquidjs allocation limit per job. @default 10000000 */
  memory?: number;
  log?: Logger;
}

/** How long after the time limit the worker is killed: liquidjs' own check gets this long to fail the render cleanly first. */
export const KILL_GRACE_MS = 250;
/** How long a starting worker may take to load. */
const READY_TIMEOUT_MS = 30_000;

interface Job {
  id: number;
  profile: TemplateSet;
  request: RenderWorkerRequest;
  current: string;
  resolve: (texts: Map<string, string>) => void;
  reject: (err: Error) => void;
}

interface Slot {
  worker: Worker;
  state: 'starting' | 'ready' | 'dead';
  job: Job | null;
  timer: NodeJS.Timeout | null;
  error: (Error & { code?: string }) | null;
}

/** Starts a renderer; no thread runs until the first render. */
export function createTemplateRenderer(opts: TemplateRendererOptions): TemplateRenderer {
  const log = opts.log ?? silentLogger;
  const size = Math.max(1, opts.workers ?? 1);
  const maxQueued = opts.maxQueued ?? 32;
  const limits: RenderLimits = { renderMs: opts.timeoutMs, memory: opts.memory ?? 10_000_000 };
  // Room for the output (UTF-16 in V8, plus the copies of concatenation) and liquidjs itself.
  const heapMb = 96 + Math.ceil((opts.maxOutputBytes * 6) / (1024 * 1024));
  const slots: Array<Slot | null> = Array.from({ length: size }, () => null);
  const queue: Job[] = [];
  let nextId = 1;
  let rendered = 0;
  let killed = 0;
  let closed = false;

  const where = (job: Job): string => job.profile.locate(job.current, 1, 1);
  const limitError = (job: Job, code: string, message: string): KilnError =>
    new KilnError('template_error', `${where(job)}: ${message}`, { issues: [{ path: where(job), code, message }] });

  const finish = (slot: Slot): Job | null => {
    const job = slot.job;
    slot.job = null;
    slot.worker.unref();
    if (slot.timer) clearTimeout(slot.timer);
    slot.timer = null;
    return job;
  };

  const spawn = (i: number): Slot => {
    const worker = startModuleWorker(import.meta.url, 'render-worker', {
      resourceLimits: { maxOldGenerationSizeMb: heapMb, maxYoungGenerationSizeMb: 16, stackSizeMb: 4 },
    });
    // Referenced while starting or busy (an awaited render keeps the process alive), unreferenced when idle.
    const slot: Slot = { worker, state: 'starting', job: null, timer: null, error: null };
    const startTimer = setTimeout(() => {
      if (slot.state !== 'starting') return;
      log.error({ timeoutMs: READY_TIMEOUT_MS }, 'template render worker did not start in time');
      void worker.terminate();
    }, READY_TIMEOUT_MS);
    startTimer.unref();
    worker.on('message', (m: RenderWorkerReply) => {
      if (m.type === 'ready') {
        slot.state = 'ready';
        clearTimeout(startTimer);
        pump();
        if (!slot.job) worker.unref();
        return;
      }
      const job = slot.job;
      if (!job || job.id !== m.id) return;
      if (m.type === 'file') {
        job.current = m.path;
        return;
      }
      finish(slot);
      rendered++;
      if (m.type === 'done') job.resolve(new Map(m.texts));
      else job.reject(fromFailure(job.profile, m.error));
      pump();
    });
    worker.on('error', (err) => {
      slot.error = err;
    });
    worker.on('exit', (code) => {
      clearTimeout(startTimer);
      const wasStarting = slot.state === 'starting';
      slot.state = 'dead';
      if (slots[i] === slot) slots[i] = null;
      const job = finish(slot);
      if (job) {
        if (slot.error?.code === 'ERR_WORKER_OUT_OF_MEMORY') {
          log.warn(
            { profile: job.profile.name, file: job.current, heapMb },
            'template render used too much memory; worker stopped',
          );
          job.reject(
            limitError(
              job,
              'limit_exceeded',
              `memory limit exceeded: rendering needed more than ${heapMb} MiB; look for a loop that builds a large string or array`,
            ),
          );
        } else {
          log.error({ profile: job.profile.name, code, err: slot.error?.message }, 'template render worker died');
          job.reject(
            new KilnError('internal', `the template render worker stopped unexpectedly while rendering ${where(job)}`),
          );
        }
      }
      if (wasStarting && !closed) {
        // A worker that cannot even load would fail the same way again: refuse what waits instead of looping.
        log.error({ code, err: slot.error?.message }, 'template render worker failed to start');
        for (const j of queue.splice(0))
          j.reject(
            new KilnError(
              'internal',
              `the template render worker failed to start: ${slot.error?.message ?? `exit code ${code}`}`,
            ),
          );
        return;
      }
      pump();
    });
    return slot;
  };

  const kill = (slot: Slot): void => {
    const job = finish(slot);
    if (!job) return;
    killed++;
    slot.state = 'dead';
    const i = slots.indexOf(slot);
    if (i >= 0) slots[i] = null;
    log.warn(
      { profile: job.profile.name, file: job.current, timeoutMs: opts.timeoutMs },
      'template render ran past its time limit; worker killed',
    );
    job.reject(
      limitError(
        job,
        'timeout',
        `time limit exceeded: rendering took longer than ${opts.timeoutMs} ms (template-timeout-ms); look for a loop that runs too often`,
      ),
    );
    void slot.worker.terminate();
    pump();
  };

  function pump(): void {
    if (closed) return;
    for (let i = 0; i < size && queue.length > 0; i++) {
      const slot = slots[i] ?? (slots[i] = spawn(i));
      if (slot.state !== 'ready' || slot.job) continue;
      const job = queue.shift()!;
      slot.job = job;
      slot.worker.ref();
      slot.timer = setTimeout(() => kill(slot), opts.timeoutMs + KILL_GRACE_MS);
      slot.worker.postMessage(job.request);
    }
  }

  return {
    render(profile, paths, context) {
      if (closed) return Promise.reject(new KilnError('internal', 'the template renderer is closed'));
      if (queue.length >= maxQueued) {
        return Promise.reject(
          new KilnError('rate_limited', `${queue.length} template renders are already waiting; retry in a few seconds`),
        );
      }
      return new Promise((resolve, reject) => {
        const id = nextId++;
        const request: RenderWorkerRequest = {
          type: 'render',
          id,
          profile: { digest: profile.digest, sources: [...profile.sources] },
          paths: [...paths],
          context,
          limits,
          maxOutputBytes: opts.maxOutputBytes,
        };
        queue.push({ id, profile, request, current: paths[0] ?? '', resolve, reject });
        pump();
      });
    },
    stats: () => ({
      workers: slots.filter(Boolean).length,
      busy: slots.filter((s) => s?.job).length,
      queued: queue.length,
      rendered,
      killed,
    }),
    async close() {
      if (closed) return;
      closed = true;
      for (const j of queue.splice(0)) j.reject(new KilnError('internal', 'the controller is stopping'));
      await Promise.all(
        slots.map(async (s) => {
          if (!s) return;
          finish(s)?.reject(new KilnError('internal', 'the controller is stopping'));
          await s.worker.terminate();
        }),
      );
    },
  };
}

/** A worker's failure as the KilnError the caller sees, located with the profile's `file:line:col`. */
function fromFailure(profile: TemplateSet, f: RenderFailure): KilnError {
  const like = {
    name: f.name,
    message: f.message,
    originalError: f.originalMessage === null ? undefined : { message: f.originalMessage },
    token:
      f.line === null
        ? undefined
        : { file: f.file ?? undefined, getPosition: () => [f.line!, f.col ?? 1] as [number, number] },
  };
  return toTemplateError(like, f.path, profile.locate);
}

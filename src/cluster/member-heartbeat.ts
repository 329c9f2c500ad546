// A member's heartbeat (`controllers.last_seen`), written from a worker thread
// with its own database connection (member-heartbeat-worker.ts). Every reader
// of last_seen judges a member by its age (`kiln controller list`, the URL
// lists machines fail over across, the peers content is fetched from); written
// from the main loop, a boot storm made a live member's heartbeat 4.3 s late
// and those readers took it for dead. docs/cluster.md, "Member liveness".
import type { Worker } from 'node:worker_threads';
import { silentLogger, type Logger } from '../log/logger.js';
import { startModuleWorker } from '../runtime/module-worker.js';
import type {
  HeartbeatStore,
  HeartbeatWorkerData,
  HeartbeatWorkerReply,
  HeartbeatWorkerRequest,
} from './member-heartbeat-protocol.js';

/**
 * How long the main loop may send no pulse before the heartbeat stops (ms): a member whose main loop is wedged
 * this long serves no API, scripts or files, so it must not stay in the others' lists; 60 s is far above any
 * storm's measured event-loop delay (seconds).
 */
export const MAIN_LOOP_STALL_MS = 60_000;

/** The running heartbeat; `close()` stops it (before the member's row is marked stopped). */
export interface MemberHeartbeat {
  /** Resolves once the first worker has set up its connection (its first beat follows one interval later). */
  ready(): Promise<void>;
  close(): Promise<void>;
}

/**
 * Starts the heartbeat worker for the member row `memberId` (which must exist: the elector writes it at start).
 * A worker that exits while the member runs is logged and started again one interval later.
 */
export function startMemberHeartbeat(o: {
  store: HeartbeatStore;
  memberId: string;
  everyMs: number;
  stallMs?: number;
  /** What the member's data plane says now (JSON), sent with each pulse and written with the next beat; absent: none. */
  load?: () => string | undefined;
  log?: Logger;
}): MemberHeartbeat {
  const log = o.log ?? silentLogger;
  const workerData: HeartbeatWorkerData = {
    store: o.store,
    memberId: o.memberId,
    everyMs: o.everyMs,
    stallMs: o.stallMs ?? MAIN_LOOP_STALL_MS,
  };
  let worker: Worker | undefined;
  let isReady!: () => void;
  const ready = new Promise<void>((r) => (isReady = r));
  let closing = false;
  let restart: NodeJS.Timeout | undefined;
  const send = (m: HeartbeatWorkerRequest): void => worker?.postMessage(m);

  const onReply = (m: HeartbeatWorkerReply): void => {
    if (m.kind === 'ready') isReady();
    else if (m.kind === 'failed')
      log.warn({ err: m.error }, 'cluster: writing the heartbeat failed; retrying every interval');
    else if (m.kind === 'recovered') log.info({}, 'cluster: writing the heartbeat works again');
    else if (m.kind === 'stalled')
      log.warn(
        { silentMs: m.silentMs },
        'cluster: the main event loop sent no pulse for too long; the heartbeat is held back until it does',
      );
    else if (m.kind === 'resumed') log.info({}, 'cluster: the main event loop is back; the heartbeat goes on');
  };

  const start = (): void => {
    const w = startModuleWorker(import.meta.url, 'member-heartbeat-worker', { workerData });
    w.unref(); // the member's other work keeps the process alive, not its heartbeat
    w.on('message', onReply);
    w.on('error', (err) => log.warn({ err: err.message }, 'cluster: the heartbeat thread failed'));
    w.on('exit', (code) => {
      if (worker !== w || closing) return;
      worker = undefined;
      log.warn({ code }, 'cluster: the heartbeat thread exited; starting it again');
      restart = setTimeout(start, o.everyMs);
      restart.unref();
    });
    worker = w;
  };
  start();
  // The pulse: posted by the main loop, so it stops when that loop is wedged (not when it is merely busy).
  const pulse = setInterval(
    () => {
      let load: string | undefined;
      try {
        load = o.load?.();
      } catch (err) {
        log.warn({ err: (err as Error).message }, "cluster: reading this member's load failed; the heartbeat goes on");
      }
      send(load === undefined ? { kind: 'pulse' } : { kind: 'pulse', load });
    },
    Math.min(o.everyMs, 1000),
  );
  pulse.unref();

  return {
    ready: () => ready,
    async close() {
      closing = true;
      clearInterval(pulse);
      clearTimeout(restart);
      const w = worker;
      worker = undefined;
      if (!w) return;
      const stopped = new Promise<void>((resolve) => {
        w.on('message', (m: HeartbeatWorkerReply) => {
          if (m.kind === 'stopped') resolve();
        });
        w.once('exit', () => resolve());
      });
      w.postMessage({ kind: 'stop' } satisfies HeartbeatWorkerRequest);
      // Bounded: a write stuck in a dead connection is cut off (query_timeout is 5 s).
      const timer = setTimeout(() => void w.terminate(), 6000);
      await stopped;
      clearTimeout(timer);
      await w.terminate();
    },
  };
}

/**
 * Worker threads that run TFTP transfers, so transfers use every core while
 * the listener stays on the main event loop. Each transfer goes to the worker
 * with the fewest running transfers; the worker binds the transfer's
 * ephemeral socket and reads the file through the handed-off descriptor.
 */
import type { Worker } from 'node:worker_threads';
import { silentLogger, type Logger } from '../../log/logger.js';
import { startModuleWorker } from '../../runtime/module-worker.js';
import type { TftpFile } from './file-source.js';
import type { TftpTransferPlan } from './tftp-transfer-runner.js';
import type { TftpTransfer, TftpTransferOutcome } from './tftp-transfer.js';
import type { TftpWorkerReply, TftpWorkerRequest } from './tftp-worker.js';

/** A running pool. */
export interface TftpWorkerPool {
  /** Starts a transfer in a worker; `file` must have `handOff`. Rejects when the worker cannot bind a socket. */
  run(plan: TftpTransferPlan, file: TftpFile): Promise<TftpTransfer>;
  /** Aborts every transfer, waits for their `done`, and stops the workers. Idempotent. */
  close(): Promise<void>;
}

/** A transfer handed to a worker; `started`/`failed` settle the `run` promise, `ended` its `done`. */
interface Pending {
  started: (t: TftpTransfer) => void;
  failed: (err: Error) => void;
  ended: (o: TftpTransferOutcome) => void;
  transfer: TftpTransfer;
}

interface Slot {
  worker: Worker;
  running: Map<number, Pending>;
}

/** How long a starting worker may take to load before the server gives up on the pool. */
const READY_TIMEOUT_MS = 30_000;

/** Starts `size` workers and resolves once all are ready; rejects (and stops them) when one fails to load. */
export async function startTftpWorkerPool(opts: {
  size: number;
  log?: Logger;
  sendBufferSize?: number;
}): Promise<TftpWorkerPool> {
  const log = opts.log ?? silentLogger;
  let nextId = 1;
  let closing: Promise<void> | null = null;

  const spawnSlot = (): { slot: Slot; ready: Promise<void> } => {
    // trackUnmanagedFds off: the worker closes descriptors the main thread opened (handed-off files).
    const worker = startModuleWorker(import.meta.url, 'tftp-worker', {
      workerData: { sendBufferSize: opts.sendBufferSize },
      trackUnmanagedFds: false,
    });
    const slot: Slot = { worker, running: new Map() };
    let readyResolve!: () => void;
    let readyReject!: (e: Error) => void;
    const ready = new Promise<void>((res, rej) => {
      readyResolve = res;
      readyReject = rej;
    });
    worker.on('message', (m: TftpWorkerReply) => {
      if (m.type === 'ready') {
        readyResolve();
        return;
      }
      if (m.type === 'log') {
        log[m.level](m.obj, m.msg);
        return;
      }
      const p = slot.running.get(m.id);
      if (!p) return;
      if (m.type === 'started') p.started(p.transfer);
      else if (m.type === 'failed') {
        slot.running.delete(m.id);
        p.failed(new Error(m.message));
      } else {
        slot.running.delete(m.id);
        p.ended(m.outcome as TftpTransferOutcome);
      }
    });
    worker.on('error', (err) => {
      log.error({ err }, 'tftp: transfer worker failed');
      readyReject(err);
    });
    worker.on('exit', (code) => {
      readyReject(new Error(`tftp worker exited with code ${code}`));
      // Transfers of a dead worker end as aborted (their clients retry); a replacement takes new transfers.
      // Their descriptors are not closed here: the worker may have closed them already and the number been reused.
      for (const p of slot.running.values()) {
        p.failed(new Error('tftp worker exited'));
        p.ended('aborted');
      }
      slot.running.clear();
      const i = slots.indexOf(slot);
      if (i >= 0 && !closing) {
        log.warn({ code }, 'tftp: transfer worker exited, starting another');
        const next = spawnSlot();
        slots[i] = next.slot;
        next.ready.catch(() => {}); // its own 'error' is logged
      }
    });
    return { slot, ready };
  };

  const slots: Slot[] = [];
  const started = Array.from({ length: opts.size }, spawnSlot);
  slots.push(...started.map((s) => s.slot));
  try {
    await Promise.race([
      Promise.all(started.map((s) => s.ready)),
      new Promise((_, rej) =>
        setTimeout(() => rej(new Error('tftp workers did not start in time')), READY_TIMEOUT_MS).unref(),
      ),
    ]);
  } catch (err) {
    closing = Promise.resolve();
    await Promise.all(slots.map((s) => s.worker.terminate()));
    throw err;
  }

  const leastLoaded = (): Slot => slots.reduce((a, b) => (b.running.size < a.running.size ? b : a));

  const run = (plan: TftpTransferPlan, file: TftpFile): Promise<TftpTransfer> => {
    if (!file.handOff) return Promise.reject(new Error('tftp worker pool: file cannot be handed off'));
    const slot = leastLoaded();
    const id = nextId++;
    let ended!: (o: TftpTransferOutcome) => void;
    const done = new Promise<TftpTransferOutcome>((r) => {
      ended = r;
    });
    const transfer: TftpTransfer = {
      done,
      abort: () => slot.worker.postMessage({ type: 'abort', id } satisfies TftpWorkerRequest),
    };
    return new Promise<TftpTransfer>((resolve, reject) => {
      slot.running.set(id, { started: resolve, failed: reject, ended, transfer });
      slot.worker.postMessage({ type: 'start', id, plan, file: file.handOff!() } satisfies TftpWorkerRequest);
    });
  };

  const close = (): Promise<void> => {
    closing ??= (async () => {
      const all = slots.flatMap((s) => [...s.running.values()]);
      for (const s of slots)
        for (const id of s.running.keys()) s.worker.postMessage({ type: 'abort', id } satisfies TftpWorkerRequest);
      await Promise.all(all.map((p) => p.transfer.done));
      await Promise.all(slots.map((s) => s.worker.terminate()));
    })();
    return closing;
  };

  return { run, close };
}

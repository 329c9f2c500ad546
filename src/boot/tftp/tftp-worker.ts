/**
 * A TFTP transfer worker thread: owns the ephemeral sockets of the transfers
 * the pool gives it and runs them on its own event loop.
 * In: `start` (plan, file hand-off, id), `abort` (id).
 * Out: `ready` once, then per transfer `started` or `failed`, and `done` with
 * the outcome after its socket and file are closed; `log` lines for the main
 * thread's logger.
 */
import { parentPort, workerData } from 'node:worker_threads';
import type { Logger } from '../../log/logger.js';
import { tftpFileFromHandoff, type TftpFileHandoff } from './file-source.js';
import { inProcessTransferRunner, type TftpTransferPlan } from './tftp-transfer-runner.js';
import type { TftpTransfer } from './tftp-transfer.js';
import { udpSocketFactory } from '../../net/datagram/udp-socket.js';
import { createSocketErrorLog } from '../../net/datagram/socket-error-log.js';

/** Messages from the pool to a worker. */
export type TftpWorkerRequest =
  { type: 'start'; id: number; plan: TftpTransferPlan; file: TftpFileHandoff } | { type: 'abort'; id: number };

/** Messages from a worker to the pool. */
export type TftpWorkerReply =
  | { type: 'ready' }
  | { type: 'started'; id: number }
  | { type: 'failed'; id: number; message: string }
  | { type: 'done'; id: number; outcome: string }
  | { type: 'log'; level: 'debug' | 'info' | 'warn' | 'error'; obj: object; msg?: string };

const port = parentPort!;
const post = (m: TftpWorkerReply): void => port.postMessage(m);

/** Errors do not survive structured clone with their fields everywhere; logs get the essentials. */
const plain = (obj: object): object => {
  const err = (obj as { err?: unknown }).err;
  if (!(err instanceof Error)) return obj;
  return { ...obj, err: { message: err.message, code: (err as NodeJS.ErrnoException).code } };
};

const forwardLogger = (bindings: object): Logger => ({
  debug: (obj, msg) => post({ type: 'log', level: 'debug', obj: plain({ ...bindings, ...obj }), msg }),
  info: (obj, msg) => post({ type: 'log', level: 'info', obj: plain({ ...bindings, ...obj }), msg }),
  warn: (obj, msg) => post({ type: 'log', level: 'warn', obj: plain({ ...bindings, ...obj }), msg }),
  error: (obj, msg) => post({ type: 'log', level: 'error', obj: plain({ ...bindings, ...obj }), msg }),
  child: (more) => forwardLogger({ ...bindings, ...more }),
});

const { sendBufferSize } = workerData as { sendBufferSize?: number };
const log = forwardLogger({});
// Transfer socket errors are logged here, rate-limited, with their errno (the worker has no metrics registry).
const socketError = createSocketErrorLog({ server: 'tftp', log });
const run = inProcessTransferRunner(
  udpSocketFactory({
    sendBufferSize,
    onError: (err, op, local) => socketError(err, op, { local: `${local.address}:${local.port}` }),
  }),
  log,
);
const transfers = new Map<number, TftpTransfer | null>(); // null: still binding its socket

port.on('message', (m: TftpWorkerRequest) => {
  if (m.type === 'abort') {
    const t = transfers.get(m.id);
    if (t) t.abort();
    else if (t === null) transfers.delete(m.id); // aborted while binding: ended as soon as it starts
    return;
  }
  transfers.set(m.id, null);
  run(m.plan, tftpFileFromHandoff(m.file)).then(
    (t) => {
      if (!transfers.has(m.id)) t.abort();
      transfers.set(m.id, t);
      post({ type: 'started', id: m.id });
      return t.done.then((outcome) => {
        transfers.delete(m.id);
        post({ type: 'done', id: m.id, outcome });
      });
    },
    (err: unknown) => {
      transfers.delete(m.id);
      post({ type: 'failed', id: m.id, message: String((err as Error)?.message ?? err) });
    },
  );
});
post({ type: 'ready' });

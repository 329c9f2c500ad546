/**
 * Starts the syslog ingest worker (ingest-worker.ts) and gives the service
 * its `ingest`: each batch is packed into one transferred buffer, the worker
 * decodes it, the main thread attributes it, the worker stores it. A worker
 * that dies (a bug, never a bad line: decoding does not throw) fails the
 * batch in flight (counted store_failed by the service) and is started again
 * for the next one.
 */
import type { Worker } from 'node:worker_threads';
import type { Logger } from '../log/logger.js';
import { startModuleWorker } from '../runtime/module-worker.js';
import type { IngestReply, IngestRequest } from './ingest-messages.js';
import type { ReceivedLine } from './received-line.js';
import type { SyslogIngest } from './syslog-service.js';

interface InFlight {
  onAttribute: (hostnames: Array<string | null>) => void;
  resolve: (r: { defective: number; rows: Extract<IngestReply, { type: 'written' }>['rows'] }) => void;
  reject: (err: Error) => void;
}

/** The batch as one message: the lines' bytes back to back, and their fields as arrays. */
function pack(batch: readonly ReceivedLine[]): { message: IngestRequest; transfer: ArrayBuffer[] } {
  const total = batch.reduce((n, l) => n + l.bytes.length, 0);
  const bytes = new Uint8Array(total);
  const ends = new Uint32Array(batch.length);
  const truncated = new Uint8Array(batch.length);
  let at = 0;
  batch.forEach((l, i) => {
    bytes.set(l.bytes, at);
    at += l.bytes.length;
    ends[i] = at;
    truncated[i] = l.truncated ? 1 : 0;
  });
  return {
    message: {
      type: 'batch',
      bytes,
      ends,
      truncated,
      sourceIps: batch.map((l) => l.sourceIp),
      receivedAt: batch.map((l) => l.receivedAt),
    },
    transfer: [bytes.buffer, ends.buffer, truncated.buffer],
  };
}

export function startIngestWorker(opts: { file: string; triggerPatterns: readonly string[]; log: Logger }): {
  ingest: SyslogIngest;
  close(): Promise<void>;
} {
  let worker: Worker | null = null;
  let inFlight: InFlight | null = null;
  let closed = false;

  const start = (): Worker => {
    const w = startModuleWorker(import.meta.url, 'ingest-worker', {
      workerData: { file: opts.file, patterns: [...opts.triggerPatterns] },
    });
    w.on('message', (m: IngestReply) => {
      const f = inFlight;
      if (!f) return;
      if (m.type === 'attribute') f.onAttribute(m.hostnames);
      else if (m.type === 'written') f.resolve(m);
      else if (m.type === 'failed') f.reject(new Error(m.message));
    });
    const gone = (why: string) => {
      if (worker === w) worker = null;
      inFlight?.reject(new Error(`syslog ingest worker ${why}`));
      if (!closed) opts.log.error({ why }, 'syslog: the ingest worker stopped; a new one takes the next batch');
    };
    w.on('error', (err) => gone(`failed: ${err.message}`));
    w.on('exit', (code) => gone(`exited (${code})`));
    return w;
  };

  const ingest: SyslogIngest = (batch, attribute) => {
    if (closed) return Promise.reject(new Error('syslog ingest worker closed'));
    const w = (worker ??= start());
    return new Promise((resolve, reject) => {
      const done = () => (inFlight = null);
      inFlight = {
        onAttribute: (hostnames) => {
          attribute(batch.map((l, i) => ({ sourceIp: l.sourceIp, hostname: hostnames[i] }))).then(
            (owners) => {
              const unknown = owners.filter((o) => o.by === 'unknown').length;
              inFlight!.resolve = (r) => (done(), resolve({ ...r, unknown }));
              w.postMessage({ type: 'owners', hostIds: owners.map((o) => o.hostId) } satisfies IngestRequest);
            },
            (err: unknown) => {
              // The worker waits for owners: none known, the lines are kept unattributed.
              opts.log.warn({ err: (err as Error).message }, 'syslog: attribution failed; lines kept unattributed');
              inFlight!.resolve = (r) => (done(), resolve({ ...r, unknown: batch.length }));
              w.postMessage({ type: 'owners', hostIds: batch.map(() => null) } satisfies IngestRequest);
            },
          );
        },
        resolve: (r) => (done(), resolve({ ...r, unknown: 0 })),
        reject: (err) => (done(), reject(err)),
      };
      const { message, transfer } = pack(batch);
      w.postMessage(message, transfer);
    });
  };

  return {
    ingest,
    async close() {
      closed = true;
      const w = worker;
      if (!w) return;
      // The store's connection is closed by the worker (its WAL checkpointed), then the thread ends.
      await new Promise<void>((resolve) => {
        const t = setTimeout(resolve, 5000);
        w.on('message', (m: IngestReply) => m.type === 'closed' && (clearTimeout(t), resolve()));
        w.once('exit', () => (clearTimeout(t), resolve()));
        w.postMessage({ type: 'close' } satisfies IngestRequest);
      });
      await w.terminate();
    },
  };
}

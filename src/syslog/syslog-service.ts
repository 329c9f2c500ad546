/**
 * The syslog domain's service: takes each received message (bytes, sender),
 * decodes it, and writes it with its host and boot session in batches; lists
 * a host's messages; prunes by retention. Receiving never blocks on the store:
 * messages wait in a bounded queue, and when it is full new ones are dropped
 * and counted. Nothing here changes a host (syslog is unauthenticated).
 */
import type { Logger } from '../log/logger.js';
import { silentLogger } from '../log/logger.js';
import { createAttributor, type AttributionKind, type SyslogAttributionLookups } from './attribution.js';
import type { SyslogStore } from './log-store.js';
import { decodeLine, rowOf, type ReceivedLine } from './received-line.js';
import type { TriggerRunner } from './triggers.js';
import type { NewSyslogMessage, StoredSyslogMessage, SyslogQuery } from './syslog-message-row.js';

/** What the service counts (also the `event` label of `kiln_syslog_total`). */
export type SyslogCount =
  | 'received'
  | 'defective'
  | 'unknown_sender'
  | 'queue_full'
  | 'store_failed'
  | 'connection_refused'
  | 'connection_framing_error'
  | 'connection_idle'
  | 'socket_reopened'
  | 'socket_failed'
  | 'trigger_fired';

/** What storing one batch gave: lines with defects, the rows the triggers are to see. */
export interface IngestResult {
  defective: number;
  /** Every stored row, or (from the ingest worker) only those a trigger's literal prefilter lets through. */
  rows: NewSyslogMessage[];
}

/**
 * Decodes, attributes (through `attribute`, on the caller's thread) and stores one batch elsewhere:
 * the ingest worker (ingest-worker-client.ts). Batches come one at a time.
 */
export type SyslogIngest = (
  batch: readonly ReceivedLine[],
  attribute: (
    items: ReadonlyArray<{ sourceIp: string; hostname: string | null }>,
  ) => Promise<Array<{ hostId: string | null; by: AttributionKind }>>,
) => Promise<IngestResult & { unknown: number }>;

export interface SyslogServiceDeps {
  store: SyslogStore;
  lookups: SyslogAttributionLookups;
  retention: { maxPerHost: number; days: number; maxBytes: number };
  /** Checks each written batch against the triggers (not awaited by ingest). */
  triggers?: Pick<TriggerRunner, 'check'>;
  /** Decodes and stores batches off this thread; absent: here, into `store`. */
  ingest?: SyslogIngest;
  /** Messages waiting to be written; beyond it new ones are dropped (`queue_full`). */
  queueLimit: number;
  /** A batch is written when it has this many messages, or `flushMs` after its first (defaults 500, 200 ms). */
  batchSize?: number;
  flushMs?: number;
  count?: (what: SyslogCount) => void;
  log?: Logger;
  now?: () => Date;
}

export function createSyslogService(deps: SyslogServiceDeps) {
  const now = deps.now ?? (() => new Date());
  const log = deps.log ?? silentLogger;
  const batchSize = deps.batchSize ?? 500;
  const flushMs = deps.flushMs ?? 200;
  const counts = new Map<SyslogCount, number>();
  const count = (what: SyslogCount, n = 1) => {
    counts.set(what, (counts.get(what) ?? 0) + n);
    for (let i = 0; i < n; i++) deps.count?.(what);
  };
  const attribute = createAttributor(deps.lookups);
  // A flood receives many lines in one millisecond: format the time once per millisecond.
  let lastMs = NaN;
  let lastIso = '';
  const receivedAt = (): string => {
    const ms = now().getTime();
    if (ms !== lastMs) {
      lastMs = ms;
      lastIso = new Date(ms).toISOString();
    }
    return lastIso;
  };
  let queue: ReceivedLine[] = [];
  let timer: NodeJS.Timeout | null = null;
  let writing: Promise<void> = Promise.resolve();

  /** The batch decoded, attributed and stored on this thread. */
  async function ingestHere(batch: readonly ReceivedLine[]): Promise<IngestResult & { unknown: number }> {
    const msgs = batch.map(decodeLine);
    const owners = await attribute(batch.map((l, i) => ({ sourceIp: l.sourceIp, hostname: msgs[i].hostname ?? null })));
    const rows = batch.map((l, i) => rowOf(l, msgs[i], owners[i].hostId));
    await deps.store.insertMany(rows);
    return {
      defective: rows.filter((r) => r.defects.length > 0).length,
      unknown: owners.filter((o) => o.by === 'unknown').length,
      rows,
    };
  }

  async function write(batch: ReceivedLine[]): Promise<void> {
    const r = deps.ingest ? await deps.ingest(batch, attribute) : await ingestHere(batch);
    count('defective', r.defective);
    count('unknown_sender', r.unknown);
    if (deps.triggers && r.rows.length > 0)
      void deps.triggers.check(r.rows).then(
        (n) => count('trigger_fired', n),
        (err: unknown) => log.warn({ err: (err as Error).message }, 'syslog: checking triggers failed'),
      );
  }

  /** Writes what is queued now, after any write in progress; a store failure drops the batch (counted, logged). */
  function flush(): Promise<void> {
    if (timer) {
      clearTimeout(timer);
      timer = null;
    }
    const batch = queue;
    queue = [];
    if (batch.length === 0) return writing;
    writing = writing.then(() =>
      write(batch).catch((err: unknown) => {
        count('store_failed', batch.length);
        log.warn(
          { err: (err as Error).message, messages: batch.length },
          'syslog: a batch could not be written; dropped',
        );
      }),
    );
    return writing;
  }

  return {
    /** One received message (a datagram or a TCP frame); never throws, never waits. */
    accept(bytes: Uint8Array, sourceIp: string, truncated = false): void {
      count('received');
      if (queue.length >= deps.queueLimit) {
        count('queue_full');
        return;
      }
      // The socket may reuse its buffer: keep a copy.
      queue.push({ receivedAt: receivedAt(), sourceIp, bytes: bytes.slice(), truncated });
      if (queue.length >= batchSize) void flush();
      else timer ??= setTimeout(() => void flush(), flushMs);
    },
    flush,
    /** A host's messages (hostId null: the unattributed ones), oldest first. */
    list(q: SyslogQuery): Promise<StoredSyslogMessage[]> {
      return deps.store.list(q);
    },
    /**
     * Deletes what retention no longer keeps (older than `days`, beyond `maxPerHost` of a host, beyond
     * `maxBytes` in all), a few chunks at a time with a yield to the event loop between them, so that
     * receiving and the API keep running; gives the count deleted.
     */
    async prune(opts: { perHost?: boolean } = { perHost: true }): Promise<number> {
      const before = new Date(now().getTime() - deps.retention.days * 86_400_000).toISOString();
      let deleted = 0;
      // Bounded: at most 10 000 passes of 10 chunks (2 × 10^8 lines) per call.
      for (let pass = 0; pass < 10_000; pass++) {
        const r = await deps.store.prune({
          before,
          maxBytes: deps.retention.maxBytes,
          maxPerHost: opts.perHost ? deps.retention.maxPerHost : undefined,
        });
        deleted += r.deleted;
        if (!r.more) break;
        await new Promise((resolve) => setImmediate(resolve));
      }
      return deleted;
    },
    /** True when one of the host's recent lines (queued ones written first) contains `key`. */
    async arrived(hostId: string, key: string): Promise<boolean> {
      await flush();
      return deps.store.hostLineContains(hostId, key);
    },
    /** A counter's value since start (tests, diagnostics); /metrics has the same counts. */
    counted(what: SyslogCount): number {
      return counts.get(what) ?? 0;
    },
    count,
    /** Writes what is queued and stops the timer. */
    close(): Promise<void> {
      return flush();
    },
  };
}

/** The syslog service's type. */
export type SyslogService = ReturnType<typeof createSyslogService>;

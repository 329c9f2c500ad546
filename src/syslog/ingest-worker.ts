/**
 * The syslog ingest worker (a worker thread, ingest-worker-client.ts starts
 * it): decodes each batch of received lines, asks the main thread to
 * attribute them (the lease and host lookups live there), writes the rows
 * into the log store through its own connection, and gives back the rows a
 * trigger's literal prefilter lets through. One batch at a time; the main
 * thread keeps only receiving, attribution and the triggers' events.
 */
import { parentPort, workerData } from 'node:worker_threads';
import { literalPrefilter } from './literal-prefilter.js';
import { openLogStore } from './log-store.js';
import { decodeLine, rowOf, type ReceivedLine } from './received-line.js';
import type { IngestReply, IngestRequest } from './ingest-messages.js';

const { file, patterns } = workerData as { file: string; patterns: string[] };
const store = openLogStore(file);
const maybe = patterns.map(literalPrefilter);
const port = parentPort!;
let owners: ((hostIds: Array<string | null>) => void) | null = null;

const reply = (m: IngestReply) => port.postMessage(m);

async function ingest(m: Extract<IngestRequest, { type: 'batch' }>): Promise<void> {
  const lines: ReceivedLine[] = m.sourceIps.map((sourceIp, i) => ({
    sourceIp,
    receivedAt: m.receivedAt[i],
    bytes: m.bytes.subarray(i === 0 ? 0 : m.ends[i - 1], m.ends[i]),
    truncated: m.truncated[i] === 1,
  }));
  const msgs = lines.map(decodeLine);
  const hostIds = await new Promise<Array<string | null>>((resolve) => {
    owners = resolve;
    reply({ type: 'attribute', hostnames: msgs.map((x) => x.hostname ?? null) });
  });
  const rows = lines.map((l, i) => rowOf(l, msgs[i], hostIds[i]));
  await store.insertMany(rows);
  reply({
    type: 'written',
    defective: rows.filter((r) => r.defects.length > 0).length,
    rows: maybe.length ? rows.filter((r) => maybe.some((f) => f(r.text))) : [],
  });
}

port.on('message', (m: IngestRequest) => {
  if (m.type === 'owners') {
    const done = owners;
    owners = null;
    done?.(m.hostIds);
  } else if (m.type === 'batch') {
    ingest(m).catch((err: unknown) => reply({ type: 'failed', message: (err as Error).message }));
  } else {
    void store.close().then(() => reply({ type: 'closed' }));
  }
});

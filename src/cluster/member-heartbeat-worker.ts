// Worker thread of the member heartbeat (member-heartbeat.ts): every `everyMs`
// it moves this member's `controllers.last_seen` on a database connection of
// its own (PostgreSQL: one client named `kiln member <id>`; SQLite: its own
// handle on the file), on its own event loop, so a busy main loop does not make
// a live member look dead. It beats only while the main thread's pulses keep
// coming (`stallMs`): a main loop wedged that long is not a live member.
// docs/cluster.md, "Member liveness".
import { parentPort, workerData } from 'node:worker_threads';
import type {
  HeartbeatStore,
  HeartbeatWorkerData,
  HeartbeatWorkerReply,
  HeartbeatWorkerRequest,
} from './member-heartbeat-protocol.js';

/**
 * Moves last_seen to `at` (ISO) and, when given, the member's published load (JSON); throws when the store cannot be
 * written now (the next beat tries again).
 */
interface BeatWriter {
  write(at: string, load: string | null): Promise<void>;
  close(): Promise<void>;
}

// A stopped member's row is left alone: its last_seen is the stop.
const POSTGRES_BEAT =
  'update controllers set last_seen = $1, load = coalesce($3, load) where id = $2 and stopped_at is null';
const SQLITE_BEAT =
  'update controllers set last_seen = ?, load = coalesce(?, load) where id = ? and stopped_at is null';

async function postgresWriter(url: string, memberId: string): Promise<BeatWriter> {
  const { default: pg } = await import('pg');
  let client: InstanceType<typeof pg.Client> | null = null;
  const drop = (c: InstanceType<typeof pg.Client>): void => {
    if (client === c) client = null;
    void c.end().catch(() => {});
  };
  const connect = async (): Promise<InstanceType<typeof pg.Client>> => {
    if (client) return client;
    const c = new pg.Client({
      connectionString: url,
      application_name: `kiln member ${memberId}`,
      keepAlive: true,
      connectionTimeoutMillis: 5000,
      query_timeout: 5000,
    });
    c.on('error', () => drop(c));
    client = c;
    try {
      await c.connect();
    } catch (err) {
      drop(c);
      throw err;
    }
    return c;
  };
  return {
    async write(at, load) {
      const c = await connect();
      try {
        await c.query(POSTGRES_BEAT, [at, memberId, load]);
      } catch (err) {
        drop(c); // a new connection at the next beat
        throw err;
      }
    },
    async close() {
      if (client) await client.end().catch(() => {});
      client = null;
    },
  };
}

async function sqliteWriter(file: string, memberId: string): Promise<BeatWriter> {
  const { default: Database } = await import('better-sqlite3');
  const db = new Database(file);
  db.pragma('synchronous = FULL');
  db.pragma('busy_timeout = 5000');
  const beat = db.prepare(SQLITE_BEAT);
  return {
    write: async (at, load) => void beat.run(at, load, memberId),
    close: async () => void db.close(),
  };
}

const writerOf = (s: HeartbeatStore, memberId: string): Promise<BeatWriter> =>
  s.kind === 'postgres' ? postgresWriter(s.url, memberId) : sqliteWriter(s.file, memberId);

const port = parentPort!;
const data = workerData as HeartbeatWorkerData;
const reply = (m: HeartbeatWorkerReply): void => port.postMessage(m);
const writer = await writerOf(data.store, data.memberId);
let lastPulse = Date.now();
/** The load of the latest pulse not written yet (null: nothing new). */
let load: string | null = null;
let stalled = false;
let failing = false;
let beating: Promise<void> | null = null;

async function beat(): Promise<void> {
  const silentMs = Date.now() - lastPulse;
  if (silentMs > data.stallMs) {
    if (!stalled) reply({ kind: 'stalled', silentMs });
    stalled = true;
    return;
  }
  if (stalled) reply({ kind: 'resumed' });
  stalled = false;
  try {
    const next = load;
    load = null;
    await writer.write(new Date().toISOString(), next);
    if (failing) reply({ kind: 'recovered' });
    failing = false;
  } catch (err) {
    if (!failing) reply({ kind: 'failed', error: err instanceof Error ? err.message : String(err) });
    failing = true;
  }
}

const timer = setInterval(() => {
  // A write still in flight (a slow store) is not queued behind: the next tick writes a newer time.
  beating ??= beat().finally(() => (beating = null));
}, data.everyMs);

port.on('message', (m: HeartbeatWorkerRequest) => {
  if (m.kind === 'pulse') {
    lastPulse = Date.now();
    if (m.load !== undefined) load = m.load;
  } else {
    clearInterval(timer);
    void (async () => {
      await beating;
      await writer.close();
      reply({ kind: 'stopped' });
      port.close();
    })();
  }
});
reply({ kind: 'ready' });

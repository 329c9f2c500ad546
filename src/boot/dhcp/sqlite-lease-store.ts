import type BetterSqlite3 from 'better-sqlite3';
import type { LeaseDb } from './lease-upsert.js';
import type { Worker } from 'node:worker_threads';
import { startModuleWorker } from '../../runtime/module-worker.js';
import type { LeasePutResult, LeaseStore } from './lease-store.js';
import { compileLeaseUpsert } from './lease-upsert.js';
import { createLeaseCommit } from './lease-upsert-sqlite.js';
import type { LeaseWorkerData, LeaseWorkerReply, LeaseWorkerRequest } from './sqlite-lease-worker.js';
import { createSqlLeaseStore } from './sql-lease-store.js';

type PutMany = LeaseStore['putMany'];

/**
 * The SQL lease store with its hot write path on prepared better-sqlite3
 * statements. For a database file, group commits run on a worker thread
 * with its own connection (sqlite-lease-worker.ts), so the fsync of
 * synchronous=FULL never stalls the DHCP loop; `putMany` resolves after the
 * worker's commit, so an ACK still follows durability. An in-memory
 * database (tests) commits in this thread under Kysely's connection lock.
 * `sqlite` must be the connection under `db`, its tables migrated. Reads and
 * `list` stay on Kysely; they are rare behind the lease index. The worker
 * starts with the store, not at the first commit: its start-up (a V8 isolate,
 * better-sqlite3, the statements) took about 190 ms of CPU in the first 0.3 s
 * of a storm, on the core that answers DISCOVERs (docs/dhcp.md, "OFFER
 * tail"), and `ready()` resolves when it has prepared its statements, which
 * `startDhcpServer` waits for before it answers. It is unref'd and ends with
 * the process; one that fails or exits is started again by the next write.
 * `startWorker` is for tests.
 */
export function createSqliteLeaseStore(
  db: LeaseDb,
  sqlite: BetterSqlite3.Database,
  opts: { startWorker?: typeof startModuleWorker } = {},
): LeaseStore {
  const base = createSqlLeaseStore(db);
  if (sqlite.memory) return { ...base, putMany: inThreadPutMany(db, sqlite) };
  const { putMany, ready } = workerPutMany(sqlite.name, opts.startWorker);
  return { ...base, putMany, ready };
}

function inThreadPutMany(db: LeaseDb, sqlite: BetterSqlite3.Database): PutMany {
  // Created at the first write: it reads the table (its MAC map), which the migrations may not have made yet.
  let commit: ReturnType<typeof createLeaseCommit> | undefined;
  // Kysely's lock keeps the commit out of another domain's open transaction on this one connection.
  return (leases, now) =>
    db.connection().execute(async () => (commit ??= createLeaseCommit(sqlite, compileLeaseUpsert()))(leases, now));
}

function workerPutMany(
  file: string,
  startWorker = startModuleWorker,
): { putMany: PutMany; ready: () => Promise<void> } {
  let worker: Worker | undefined;
  let started!: () => void;
  const up = new Promise<void>((r) => (started = r));
  let nextId = 0;
  const pending = new Map<number, { resolve(r: LeasePutResult[]): void; reject(e: Error): void }>();
  const failAll = (w: Worker, err: Error): void => {
    if (worker !== w) return;
    for (const p of pending.values()) p.reject(err);
    pending.clear();
    worker = undefined; // the next write starts a new worker
  };
  const start = (): Worker => {
    const workerData: LeaseWorkerData = { file, statements: compileLeaseUpsert() };
    const w = startWorker(import.meta.url, 'sqlite-lease-worker', { workerData });
    // Held until it is ready, so a caller awaiting ready() keeps the process alive; then only by commits in flight.
    let starting = true;
    w.on('message', (m: LeaseWorkerReply) => {
      if ('ready' in m) {
        starting = false;
        if (pending.size === 0) w.unref();
        return started();
      }
      const p = pending.get(m.id);
      if (!p) return;
      pending.delete(m.id);
      if (pending.size === 0 && !starting) w.unref();
      if ('error' in m) p.reject(new Error(`lease commit failed: ${m.error}`));
      else p.resolve(m.results);
    });
    w.on('error', (err) => failAll(w, err));
    w.on('exit', (code) => failAll(w, new Error(`lease writer exited with code ${code}`)));
    // A worker that fails to start is not waited for: the first write starts another and reports its error.
    w.once('exit', () => started());
    return w;
  };
  worker = start();
  const putMany: PutMany = (leases, now) =>
    new Promise((resolve, reject) => {
      const w = (worker ??= start());
      const id = nextId++;
      pending.set(id, { resolve, reject });
      w.ref(); // a commit in flight keeps the process alive until it is durable
      const request: LeaseWorkerRequest = { id, leases, now };
      w.postMessage(request);
    });
  return { putMany, ready: () => up };
}

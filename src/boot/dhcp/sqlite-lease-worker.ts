/**
 * Worker thread of the SQLite lease store (sqlite-lease-store.ts): owns a
 * second connection to the database file and runs each group commit there,
 * so the fsync of synchronous=FULL blocks this thread, not the DHCP loop.
 * The commit is lease-upsert-sqlite.ts's, as on the main thread, with the
 * statements the main thread compiled (so this thread never loads Kysely).
 */
import { parentPort, workerData } from 'node:worker_threads';
import Database from 'better-sqlite3';
import type { Lease, LeasePutResult } from './lease-store.js';
import { createLeaseCommit, type LeaseStatements } from './lease-upsert-sqlite.js';

/** What the worker is started with: the database file and the rule's statements (compileLeaseUpsert). */
export interface LeaseWorkerData {
  file: string;
  statements: LeaseStatements;
}

/** One group commit; `now` is ms since the epoch. */
export interface LeaseWorkerRequest {
  id: number;
  leases: Lease[];
  now: number;
}

/** The results of request `id`, or why its transaction failed (nothing of it was written); `ready` once, when the connection and statements are prepared. */
export type LeaseWorkerReply =
  { id: number; results: LeasePutResult[] } | { id: number; error: string } | { ready: true };

const port = parentPort!;
const { file, statements } = workerData as LeaseWorkerData;
const db = new Database(file);
db.pragma('journal_mode = WAL');
db.pragma('synchronous = FULL');
db.pragma('busy_timeout = 5000');
const commit = createLeaseCommit(db, statements);
port.postMessage({ ready: true } satisfies LeaseWorkerReply);

port.on('message', ({ id, leases, now }: LeaseWorkerRequest) => {
  let reply: LeaseWorkerReply;
  try {
    // BEGIN IMMEDIATE takes the write lock up front, so a busy database waits here (busy_timeout) instead of failing mid-batch.
    reply = { id, results: commit.immediate(leases, now) };
  } catch (err) {
    reply = { id, error: err instanceof Error ? err.message : String(err) };
  }
  port.postMessage(reply);
});

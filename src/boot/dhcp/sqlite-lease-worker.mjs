// Worker thread of the SQLite lease store (sqlite-lease-store.ts): owns a
// second connection to the database file and runs each group commit there,
// so the fsync of synchronous=FULL blocks this thread, not the DHCP loop.
// Plain JavaScript: a worker does not inherit the tsx loader of `bin/kiln.mjs`.
// Message in: { id, leases, now }; out: { id, results } or { id, error }.
import { parentPort, workerData } from 'node:worker_threads';
import Database from 'better-sqlite3';

const db = new Database(workerData.file);
db.pragma('journal_mode = WAL');
db.pragma('synchronous = FULL');
db.pragma('busy_timeout = 5000');
// Same rule as sql-lease-store.ts: replace a row only when it is expired or held by the same MAC.
const upsert =
  db.prepare(`insert into dhcp_leases (ip, mac, subnet, expires_at, hostname, state) values (?, ?, ?, ?, ?, ?)
  on conflict (ip) do update set mac = excluded.mac, subnet = excluded.subnet, expires_at = excluded.expires_at,
    hostname = excluded.hostname, state = excluded.state
  where dhcp_leases.mac = excluded.mac or dhcp_leases.expires_at <= ?`);
const dropOthers = db.prepare(`delete from dhcp_leases where mac = ? and subnet = ? and ip != ? and state = 'bound'`);
// BEGIN IMMEDIATE takes the write lock up front, so a busy database waits here (busy_timeout) instead of failing mid-batch.
const commit = db.transaction((leases, now) =>
  leases.map((l) => {
    if (upsert.run(l.ip, l.mac, l.subnet, l.expiresAt, l.hostname ?? null, l.state, now).changes === 0)
      return 'conflict';
    if (l.state === 'bound') dropOthers.run(l.mac, l.subnet, l.ip);
    return 'ok';
  }),
).immediate;

parentPort.on('message', ({ id, leases, now }) => {
  try {
    parentPort.postMessage({ id, results: commit(leases, now) });
  } catch (err) {
    parentPort.postMessage({ id, error: String(err?.message ?? err) });
  }
});

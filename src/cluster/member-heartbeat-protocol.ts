// The messages between the member heartbeat (member-heartbeat.ts) and its
// worker thread (member-heartbeat-worker.ts).

/** Where the heartbeat is written: the PostgreSQL store's URL, or the SQLite store's file (never `:memory:`). */
export type HeartbeatStore = { kind: 'postgres'; url: string } | { kind: 'sqlite'; file: string };

/** What the worker is started with. */
export interface HeartbeatWorkerData {
  store: HeartbeatStore;
  /** This member's row in `controllers`, written by the elector at start. */
  memberId: string;
  /** How often last_seen is moved (cluster.heartbeatSeconds in ms). */
  everyMs: number;
  /** No beat once the main thread has sent no pulse for this long (ms): its loop is wedged. */
  stallMs: number;
}

/**
 * Main → worker: `pulse` every `everyMs` from the main loop, with what the member's data plane says now (`load`,
 * JSON, written with the next beat; absent: the column is left alone); `stop` once, at a clean stop.
 */
export type HeartbeatWorkerRequest = { kind: 'pulse'; load?: string } | { kind: 'stop' };

/**
 * Worker → main: `ready` once its connection is set up; `failed` at the first write of a failing streak and
 * `recovered` at its end; `stalled` when the pulses stopped and beats are held back, `resumed` when they came back;
 * `stopped` after `stop`, its connection closed.
 */
export type HeartbeatWorkerReply =
  | { kind: 'ready' }
  | { kind: 'failed'; error: string }
  | { kind: 'recovered' }
  | { kind: 'stalled'; silentMs: number }
  | { kind: 'resumed' }
  | { kind: 'stopped' };

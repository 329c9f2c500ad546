import type { GeneratedAlways } from 'kysely';
import type { TableColumns } from '../store/columns.js';

/**
 * `boot_sessions` (migration 0310): one row per boot of a host, keyed by the
 * boot NIC's MAC (the one key every boot stage carries; an unknown MAC has no
 * host yet) and the session id; `host_id` once the MAC is a host. `state` is
 * the stage model's session as JSON (stage-model.ts SessionState).
 * `stall_reported` (migration 0460): the progress time (ISO) of the session a
 * `boot.stalled` event was written for, by the `boot-stalls` holder in the
 * event's transaction; the batch upserts of the controllers that observe the
 * boot leave it alone.
 */
interface BootSessionsTable {
  mac: string;
  session_id: string;
  host_id: string | null;
  host_name: string;
  started_at: string;
  updated_at: string;
  state: string;
  stall_reported: string | null;
}

/**
 * `boot_observations` (migration 0310): the timeline itself, append-only,
 * written in batches, pruned with its session. Not the event log: one row
 * per stage observation, never a lifecycle decision.
 */
interface BootObservationsTable {
  /** SQLite integer primary key (a number); PostgreSQL bigserial (a string from node-postgres). */
  id: GeneratedAlways<number | string>;
  mac: string;
  session_id: string;
  at: string;
  stage: string;
  outcome: string;
  detail: string;
}

/** The tables the timeline domain owns. */
export interface TimelineTables {
  boot_sessions: BootSessionsTable;
  boot_observations: BootObservationsTable;
}

/** The timeline tables' columns at run time, for the schema drift test. */
export const timelineColumns = {
  boot_sessions: {
    mac: 'text',
    session_id: 'text',
    host_id: 'text null',
    host_name: 'text',
    started_at: 'text',
    updated_at: 'text',
    state: 'text',
    stall_reported: 'text null',
  },
  boot_observations: {
    id: 'bigint default',
    mac: 'text',
    session_id: 'text',
    at: 'text',
    stage: 'text',
    outcome: 'text',
    detail: 'text',
  },
} as const satisfies TableColumns<TimelineTables>;

import type { GeneratedAlways } from 'kysely';
import type { TableColumns } from '../store/columns.js';

/** `events` (migration 0001): an append-only log. `before`, `after` and `data` are JSON text. */
interface EventsTable {
  /** SQLite integer primary key (a number); PostgreSQL bigserial (a string from node-postgres). */
  seq: GeneratedAlways<number | string>;
  at: string;
  actor: string;
  kind: string;
  host_id: string | null;
  subject: string | null;
  message: string;
  reason: string | null;
  before: string | null;
  after: string | null;
  data: string | null;
}

/** The tables the event log owns. */
export interface EventTables {
  events: EventsTable;
}

/** The event tables' columns at run time, for the schema drift test. */
export const eventColumns = {
  events: {
    seq: 'bigint default',
    at: 'text',
    actor: 'text',
    kind: 'text',
    host_id: 'text null',
    subject: 'text null',
    message: 'text',
    reason: 'text null',
    before: 'text null',
    after: 'text null',
    data: 'text null',
  },
} as const satisfies TableColumns<EventTables>;

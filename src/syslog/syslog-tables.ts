import type { GeneratedAlways } from 'kysely';
import type { TableColumns } from '../store/columns.js';

/**
 * `syslog_messages` (migration 0300): append-only, written in batches by the
 * syslog service and pruned by retention. `host_id` is null for an unknown
 * sender; `defects` is a comma-separated list of codec defect codes and `raw`
 * the bytes as received in base64, both only when the codec found a defect.
 */
interface SyslogMessagesTable {
  /** SQLite integer primary key (a number); PostgreSQL bigserial (a string from node-postgres). */
  id: GeneratedAlways<number | string>;
  host_id: string | null;
  received_at: string;
  source_ip: string;
  facility: number;
  severity: number;
  hostname: string | null;
  app: string | null;
  procid: string | null;
  msgid: string | null;
  text: string;
  session_id: string | null;
  defects: string | null;
  raw: string | null;
}

/** The tables the syslog domain owns. */
export interface SyslogTables {
  syslog_messages: SyslogMessagesTable;
}

/** The syslog tables' columns at run time, for the schema drift test. */
export const syslogColumns = {
  syslog_messages: {
    id: 'bigint default',
    host_id: 'text null',
    received_at: 'text',
    source_ip: 'text',
    facility: 'integer',
    severity: 'integer',
    hostname: 'text null',
    app: 'text null',
    procid: 'text null',
    msgid: 'text null',
    text: 'text',
    session_id: 'text null',
    defects: 'text null',
    raw: 'text null',
  },
} as const satisfies TableColumns<SyslogTables>;

import type { Generated } from 'kysely';
import type { TableColumns } from '../store/columns.js';

/**
 * `host_health` (migration 0350): one row per host that ever sent a
 * heartbeat, written in batches (heartbeat-config `flushSeconds`), never per
 * heartbeat. `state` is the health model's HostHealth as JSON. `unreachable`
 * (migration 0460): 1 from the `host.unreachable` event (written in its
 * transaction by the `silent-hosts` holder) until the next heartbeat.
 */
interface HostHealthTable {
  host_id: string;
  last_seen_at: string;
  state: string;
  unreachable: Generated<number>;
}

/** The tables the heartbeat domain owns. */
export interface HeartbeatTables {
  host_health: HostHealthTable;
}

/** The heartbeat tables' columns at run time, for the schema drift test. */
export const heartbeatColumns = {
  host_health: { host_id: 'text', last_seen_at: 'text', state: 'text', unreachable: 'integer default' },
} as const satisfies TableColumns<HeartbeatTables>;

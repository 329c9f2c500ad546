import type { TableColumns } from '../store/columns.js';

/**
 * `controllers` (migration 0410): one row per `kiln serve` process that ran on
 * this store (a member). `last_seen` is its heartbeat (ISO-8601 UTC); a clean
 * stop sets `stopped_at`.
 */
interface ControllersTable {
  id: string;
  name: string;
  url: string;
  version: string;
  started_at: string;
  last_seen: string;
  stopped_at: string | null;
  /** Its node API URL (HTTPS when its TLS listener is on, else its base URL; migration 0480): the machines fail over across these, and peers fetch content from the HTTPS ones; null from an older member. */
  api_url: string | null;
  /** Its SSH CA fingerprint: the `member_cas` row whose TLS CA verifies `api_url` (migration 0480). */
  member_ca: string | null;
  /** The DHCP server identifiers (option 54) it answers with, comma-separated; null when it serves no DHCP (migration 0482). */
  dhcp_server_ids: string | null;
  /** What its data plane said at its last heartbeat (JSON, src/power/admission.ts `MemberLoad`; migration 0411): batches run by other members are paced by it; null when it publishes none. */
  load: string | null;
}

/**
 * `controller_roles` (migration 0410): per singleton role, the member that
 * last took it and its term. A new holder takes `term + 1` in one statement;
 * a member acts for a role only while the row still names its own term (fencing).
 */
interface ControllerRolesTable {
  role: string;
  holder: string;
  term: number;
  since: string;
}

/** The tables the cluster domain owns. */
export interface ClusterTables {
  controllers: ControllersTable;
  controller_roles: ControllerRolesTable;
}

/** The cluster tables' columns at run time, for the schema drift test. */
export const clusterColumns = {
  controllers: {
    id: 'text',
    name: 'text',
    url: 'text',
    version: 'text',
    started_at: 'text',
    last_seen: 'text',
    stopped_at: 'text null',
    api_url: 'text null',
    member_ca: 'text null',
    dhcp_server_ids: 'text null',
    load: 'text null',
  },
  controller_roles: {
    role: 'text',
    holder: 'text',
    term: 'integer',
    since: 'text',
  },
} as const satisfies TableColumns<ClusterTables>;

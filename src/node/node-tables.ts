import type { Generated } from 'kysely';
import type { TableColumns } from '../store/columns.js';

/** `node_trust` (migration 0003): one row per enrolled host; `armed` is 0 or 1. */
export interface NodeTrustTable {
  host_id: string;
  /** SHA-256 of the current node credential. */
  credential_hash: string | null;
  issued_at: string | null;
  revoked_at: string | null;
  armed: Generated<number>;
  armed_reason: string | null;
  last_ip: string | null;
  last_seen_at: string | null;
  /** SHA-256 of the enrolment secret of the discovery report that was issued the current, never used, credential (migration 0011). */
  enrol_secret_hash: string | null;
  /** Until when (ISO time) a retry of that report may replace the unused credential (migration 0011). */
  enrol_until: string | null;
  /** The stage of the node's last `POST /node/complete` (migration 0012). */
  completed_stage: string | null;
  /** SHA-256 of the credential that call came with (migration 0012). */
  completed_credential_hash: string | null;
  /** Until when (ISO time) the same call again is answered as a repeat (migration 0012). */
  completed_until: string | null;
  /** SHA-256 of the credential the last `POST /node/progress` of stage "installed" came with (migration 0013). */
  installed_credential_hash: string | null;
  /** Until when (ISO time) that report again is answered as a repeat (migration 0013). */
  installed_until: string | null;
}

/** `site_secrets` (migration 0003): per scope (`site`, `host:<id>`); `authorized_keys` is a JSON array. */
interface SiteSecretsTable {
  scope: string;
  /** A crypt(3) hash, never the clear password. */
  root_password_hash: string | null;
  authorized_keys: Generated<string>;
  updated_at: string;
}

/** `node_identity_requests` (migration 0400): a node without an identity waiting for approval; one row per host. */
export interface IdentityRequestTable {
  host_id: string;
  /** SHA-256 of the node's request secret (the secret claims the credential once approved). */
  request_hash: string;
  /** What the node shows on its console and the operator may pass to `kiln host approve --code`. */
  code: string;
  /** `pending`, `approved` or `claimed`. */
  status: string;
  ip: string;
  mac: string;
  requested_at: string;
  approved_at: string | null;
  approved_by: string | null;
}

/** The tables the node domain owns. */
export interface NodeTables {
  node_trust: NodeTrustTable;
  site_secrets: SiteSecretsTable;
  node_identity_requests: IdentityRequestTable;
}

/** The node tables' columns at run time, for the schema drift test. */
export const nodeColumns = {
  node_trust: {
    host_id: 'text',
    credential_hash: 'text null',
    issued_at: 'text null',
    revoked_at: 'text null',
    armed: 'integer default',
    armed_reason: 'text null',
    last_ip: 'text null',
    last_seen_at: 'text null',
    enrol_secret_hash: 'text null',
    enrol_until: 'text null',
    completed_stage: 'text null',
    completed_credential_hash: 'text null',
    completed_until: 'text null',
    installed_credential_hash: 'text null',
    installed_until: 'text null',
  },
  node_identity_requests: {
    host_id: 'text',
    request_hash: 'text',
    code: 'text',
    status: 'text',
    ip: 'text',
    mac: 'text',
    requested_at: 'text',
    approved_at: 'text null',
    approved_by: 'text null',
  },
  site_secrets: {
    scope: 'text',
    root_password_hash: 'text null',
    authorized_keys: 'text default',
    updated_at: 'text',
  },
} as const satisfies TableColumns<NodeTables>;

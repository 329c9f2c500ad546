import type { TableColumns } from '../store/columns.js';

/** `deployments` (migration 0003): `files`, `boot_spec` and `image_spec` are JSON text. */
/** Where a deployment is in its life. */
/** `rolled_back`: layout ab, the host reported from its previous slot after this deployment's slot failed its trial. */
export type DeploymentStatus = 'deploying' | 'installed' | 'complete' | 'failed' | 'superseded' | 'rolled_back';

export interface DeploymentsTable {
  id: string;
  host_id: string;
  profile: string;
  files: string;
  boot_spec: string;
  image_spec: string | null;
  status: DeploymentStatus;
  created_at: string;
  created_by: string;
  installed_at: string | null;
  completed_at: string | null;
}

/** `install_tokens` (migration 0210): only the SHA-256 of a token is stored. */
interface InstallTokensTable {
  token_hash: string;
  deployment_id: string;
  host_id: string;
  created_at: string;
  expires_at: string;
}

/** `ab_switch_requests` (migration 0380): a `kiln host rollback` not yet handed to the host's heartbeat agent. */
interface AbSwitchRequestsTable {
  host_id: string;
  requested_at: string;
  requested_by: string;
}

/** The tables deploy owns. */
export interface DeployTables {
  deployments: DeploymentsTable;
  install_tokens: InstallTokensTable;
  ab_switch_requests: AbSwitchRequestsTable;
}

/** The deploy tables' columns at run time, for the schema drift test. */
export const deployColumns = {
  deployments: {
    id: 'text',
    host_id: 'text',
    profile: 'text',
    files: 'text',
    boot_spec: 'text',
    image_spec: 'text null',
    status: 'text',
    created_at: 'text',
    created_by: 'text',
    installed_at: 'text null',
    completed_at: 'text null',
  },
  install_tokens: {
    token_hash: 'text',
    deployment_id: 'text',
    host_id: 'text',
    created_at: 'text',
    expires_at: 'text',
  },
  ab_switch_requests: {
    host_id: 'text',
    requested_at: 'text',
    requested_by: 'text',
  },
} as const satisfies TableColumns<DeployTables>;

import type { TableColumns } from '../store/columns.js';

/**
 * `member_cas` (migration 0470): the public halves of each member's CAs. `id`
 * is the SSH CA's fingerprint (`SHA256:…`); `tls_ca_fingerprint` the TLS CA
 * certificate's SHA-256 (hex). No private key is ever stored.
 */
interface MemberCasTable {
  id: string;
  name: string;
  ssh_ca_public_key: string;
  tls_ca_pem: string;
  tls_ca_fingerprint: string;
  added_at: string;
  /** `join:<token id> by <actor>` or `start` (a member that registered itself at start with the store's data key). */
  added_by: string;
  last_started_at: string | null;
  /** The member's repo signing key's v4 fingerprint (migration 0483); null until it has one. */
  repo_key_fingerprint: string | null;
  /** That public key, binary OpenPGP in base64; never a secret key (src/repo/openpgp-keyring.ts checks). */
  repo_public_key: string | null;
  /** What the member's published repo subset serves (migration 0484): JSON, per suite its Release's Date and SHA-256. */
  repo_releases: string | null;
}

/** `join_tokens` (migration 0470): one-time join tokens; the secret only as its SHA-256 (hex). */
interface JoinTokensTable {
  id: string;
  secret_hash: string;
  created_at: string;
  created_by: string;
  expires_at: string;
  used_at: string | null;
  used_by: string | null;
}

/** `data_key_checks` (migration 0470): a fixed text sealed with the store's data key (row `data-key`). */
interface DataKeyChecksTable {
  id: string;
  sealed: string;
  created_at: string;
}

/** The member trust tables (owned by the cluster domain). */
export interface MemberTrustTables {
  member_cas: MemberCasTable;
  join_tokens: JoinTokensTable;
  data_key_checks: DataKeyChecksTable;
}

/** Their columns at run time, for the schema drift test. */
export const memberTrustColumns = {
  member_cas: {
    id: 'text',
    name: 'text',
    ssh_ca_public_key: 'text',
    tls_ca_pem: 'text',
    tls_ca_fingerprint: 'text',
    added_at: 'text',
    added_by: 'text',
    last_started_at: 'text null',
    repo_key_fingerprint: 'text null',
    repo_public_key: 'text null',
    repo_releases: 'text null',
  },
  join_tokens: {
    id: 'text',
    secret_hash: 'text',
    created_at: 'text',
    created_by: 'text',
    expires_at: 'text',
    used_at: 'text null',
    used_by: 'text null',
  },
  data_key_checks: { id: 'text', sealed: 'text', created_at: 'text' },
} as const satisfies TableColumns<MemberTrustTables>;

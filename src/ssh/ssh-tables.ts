import type { GeneratedAlways } from 'kysely';
import type { TableColumns } from '../store/columns.js';

/** `ssh_certificates` (migration 0004): every certificate the CA signed; `principals` is a JSON array. */
export interface SshCertificatesTable {
  /** Assigned by the database: SQLite integer primary key (a number); PostgreSQL bigserial (a string from node-postgres). */
  serial: GeneratedAlways<number | string>;
  kind: 'host' | 'user';
  host_id: string | null;
  key_id: string;
  principals: string;
  key_fingerprint: string;
  valid_before: string;
  issued_at: string;
  issued_by: string;
  revoked_at: string | null;
}

/** The tables the SSH CA owns. */
export interface SshTables {
  ssh_certificates: SshCertificatesTable;
}

/** The SSH tables' columns at run time, for the schema drift test. */
export const sshColumns = {
  ssh_certificates: {
    serial: 'bigint default',
    kind: 'text',
    host_id: 'text null',
    key_id: 'text',
    principals: 'text',
    key_fingerprint: 'text',
    valid_before: 'text',
    issued_at: 'text',
    issued_by: 'text',
    revoked_at: 'text null',
  },
} as const satisfies TableColumns<SshTables>;

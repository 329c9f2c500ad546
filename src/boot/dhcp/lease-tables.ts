import type { ColumnType } from 'kysely';
import type { TableColumns } from '../../store/columns.js';
import type { Lease } from './lease-store.js';

/** `dhcp_leases` (migration 0100): `ip` is the primary key, so one address never has two MACs. */
export interface DhcpLeasesTable {
  ip: string;
  mac: string;
  subnet: string;
  /** Ms since the epoch, written as a number; PostgreSQL bigint reads back as a string from node-postgres. */
  expires_at: ColumnType<number | string, number, number>;
  hostname: string | null;
  state: Lease['state'];
}

/** The tables the DHCP server owns. */
export interface LeaseTables {
  dhcp_leases: DhcpLeasesTable;
}

/** The lease tables' columns at run time, for the schema drift test. */
export const leaseColumns = {
  dhcp_leases: {
    ip: 'text',
    mac: 'text',
    subnet: 'text',
    expires_at: 'bigint',
    hostname: 'text null',
    state: 'text',
  },
} as const satisfies TableColumns<LeaseTables>;

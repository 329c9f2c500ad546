import type { Generated } from 'kysely';
import type { TableColumns } from '../store/columns.js';
import type { HostState } from './lifecycle.js';

/** `hosts` (migration 0001). JSON documents are text; `needs_attention` is 0 or 1. */
export interface HostsTable {
  id: string;
  name: string;
  state: HostState;
  state_reason: string | null;
  failed_stage: string | null;
  profile: string | null;
  firmware: string | null;
  facts: Generated<string>;
  hardware_hash: string | null;
  needs_attention: Generated<number>;
  labels: Generated<string>;
  bmc_driver: string | null;
  bmc_address: string | null;
  bmc_username: string | null;
  /** Sealed (encrypted) BMC password. */
  bmc_password_sealed: string | null;
  bmc_options: Generated<string>;
  version: Generated<number>;
  created_at: string;
  updated_at: string;
  /** The host as the API shows it (JSON), written with the host (migration 0340); '' until first rendered. */
  doc: Generated<string>;
  /** The host version `doc` shows; 0 before the first rendering. */
  doc_version: Generated<number>;
}

/** `host_nics` (migration 0001): one row per MAC; `is_boot` is 0 or 1. */
interface HostNicsTable {
  mac: string;
  host_id: string;
  name: string | null;
  is_boot: Generated<number>;
}

/** `host_tags` (migration 0001; `host_name` since 0340: the host's name, rewritten with the host, for list order). */
interface HostTagsTable {
  host_id: string;
  tag: string;
  host_name: Generated<string>;
}

/** `host_labels` (migration 0340): the labels document as rows, only so a label filter has an index in list order. */
interface HostLabelsTable {
  host_id: string;
  key: string;
  value: string;
  host_name: string;
}

/** The tables the inventory owns. */
export interface InventoryTables {
  hosts: HostsTable;
  host_nics: HostNicsTable;
  host_tags: HostTagsTable;
  host_labels: HostLabelsTable;
}

/** The inventory tables' columns at run time, for the schema drift test. */
export const inventoryColumns = {
  hosts: {
    id: 'text',
    name: 'text',
    state: 'text',
    state_reason: 'text null',
    failed_stage: 'text null',
    profile: 'text null',
    firmware: 'text null',
    facts: 'text default',
    hardware_hash: 'text null',
    needs_attention: 'integer default',
    labels: 'text default',
    bmc_driver: 'text null',
    bmc_address: 'text null',
    bmc_username: 'text null',
    bmc_password_sealed: 'text null',
    bmc_options: 'text default',
    version: 'integer default',
    created_at: 'text',
    updated_at: 'text',
    doc: 'text default',
    doc_version: 'integer default',
  },
  host_nics: { mac: 'text', host_id: 'text', name: 'text null', is_boot: 'integer default' },
  host_tags: { host_id: 'text', tag: 'text', host_name: 'text default' },
  host_labels: { host_id: 'text', key: 'text', value: 'text', host_name: 'text' },
} as const satisfies TableColumns<InventoryTables>;

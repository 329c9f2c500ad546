import type { HostState } from './lifecycle.js';
import type { Mac } from '../net/mac.js';

/** One network interface of a host. Exactly one NIC of a host has `boot: true`. */
export interface Nic {
  mac: Mac;
  name: string | null;
  boot: boolean;
}

/** BMC settings as shown outside the controller: the password is never included, only whether one is set. */
export interface BmcView {
  driver: string;
  address: string | null;
  username: string | null;
  hasPassword: boolean;
  options: Record<string, unknown>;
}

/** A machine Kiln manages. `version` increases by one on every change (optimistic concurrency). */
export interface Host {
  id: string;
  name: string;
  state: HostState;
  stateReason: string | null;
  failedStage: string | null;
  profile: string | null;
  firmware: 'bios' | 'uefi' | null;
  nics: Nic[];
  tags: string[];
  labels: Record<string, string>;
  facts: Record<string, unknown>;
  hardwareHash: string | null;
  needsAttention: boolean;
  bmc: BmcView | null;
  version: number;
  createdAt: string;
  updatedAt: string;
}

/** BMC settings as given by an operator; `password` is clear text here and sealed before it is stored. */
export interface BmcInput {
  driver: string;
  address?: string | null;
  username?: string | null;
  password?: string | null;
  options?: Record<string, unknown>;
}

/** Input to create a host; MACs are already normalised. */
export interface NewHost {
  name: string;
  nics: Nic[];
  tags?: string[];
  labels?: Record<string, string>;
  profile?: string | null;
  firmware?: 'bios' | 'uefi' | null;
  state?: HostState;
  facts?: Record<string, unknown>;
  bmc?: BmcInput | null;
}

/** Fields an operator may change with an edit; state changes go through transitions. */
export interface HostPatch {
  name?: string;
  nics?: Nic[];
  tags?: string[];
  labels?: Record<string, string>;
  profile?: string | null;
  firmware?: 'bios' | 'uefi' | null;
  bmc?: BmcInput | null;
  needsAttention?: boolean;
}

/** Filters for listing hosts; all given filters must match. `after` is the last name of the previous page. */
export interface HostFilter {
  state?: HostState;
  tag?: string;
  /** The host has this label with exactly this value. */
  label?: { key: string; value: string };
  mac?: Mac;
  namePrefix?: string;
  profile?: string;
  /** Only hosts flagged as needing attention (failed, hardware changed). */
  attention?: boolean;
  after?: string;
  limit?: number;
}

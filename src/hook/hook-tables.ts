import type { TableColumns } from '../store/columns.js';

/** `hooks` (migration 0320): HTTP hooks made through the API. `kinds` is a JSON array of kind prefixes. */
interface HooksTable {
  id: string;
  name: string;
  url: string;
  kinds: string;
  host_id: string | null;
  /** 1 delivers, 0 is paused (its cursor still moves: a paused hook does not queue events). */
  enabled: number;
  /** The signing secret sealed with the data key under `hook:<id>` (secret-box.ts). */
  secret_sealed: string;
  created_at: string;
  created_by: string;
}

/** `hook_cursors`: the last event position each hook has queued (API hooks by id, config hooks as `exec:<name>`). */
interface HookCursorsTable {
  hook_id: string;
  position: number | string;
  updated_at: string;
}

/** `hook_deliveries`: one row per (hook, event): the queue while pending, the history once delivered or dead. */
interface HookDeliveriesTable {
  /** The delivery id receivers dedupe on: the same on every attempt. */
  id: string;
  hook_id: string;
  event_seq: number | string;
  event_kind: string;
  status: 'pending' | 'delivered' | 'dead';
  attempts: number;
  /** ISO time of the next attempt (pending), else of the last one. */
  next_at: string;
  /** A controller sending it holds it until then; a crashed controller's claim runs out. */
  claimed_until: string | null;
  last_status: number | null;
  last_error: string | null;
  created_at: string;
  updated_at: string;
}

/** The tables the hook domain owns. */
export interface HookTables {
  hooks: HooksTable;
  hook_cursors: HookCursorsTable;
  hook_deliveries: HookDeliveriesTable;
}

/** The hook tables' columns at run time, for the schema drift test. */
export const hookColumns = {
  hooks: {
    id: 'text',
    name: 'text',
    url: 'text',
    kinds: 'text',
    host_id: 'text null',
    enabled: 'integer',
    secret_sealed: 'text',
    created_at: 'text',
    created_by: 'text',
  },
  hook_cursors: { hook_id: 'text', position: 'bigint', updated_at: 'text' },
  hook_deliveries: {
    id: 'text',
    hook_id: 'text',
    event_seq: 'bigint',
    event_kind: 'text',
    status: 'text',
    attempts: 'integer',
    next_at: 'text',
    claimed_until: 'text null',
    last_status: 'integer null',
    last_error: 'text null',
    created_at: 'text',
    updated_at: 'text',
  },
} as const satisfies TableColumns<HookTables>;

import type { TableColumns } from '../store/columns.js';

/**
 * `self_test_runs` (migration 0370): one row per self-test run of a host.
 * `tests` is comma-separated, `options` and `results` are JSON; the newest
 * 20 runs per host are kept.
 */
interface SelfTestRunsTable {
  id: string;
  host_id: string;
  tests: string;
  destructive: number;
  options: string;
  requested_by: string;
  requested_at: string;
  finished_at: string | null;
  outcome: string | null;
  results: string;
}

/** The tables the self-test domain owns. */
export interface SelfTestTables {
  self_test_runs: SelfTestRunsTable;
}

/** The self-test table's columns at run time, for the schema drift test. */
export const selfTestColumns = {
  self_test_runs: {
    id: 'text',
    host_id: 'text',
    tests: 'text',
    destructive: 'integer',
    options: 'text',
    requested_by: 'text',
    requested_at: 'text',
    finished_at: 'text null',
    outcome: 'text null',
    results: 'text',
  },
} as const satisfies TableColumns<SelfTestTables>;

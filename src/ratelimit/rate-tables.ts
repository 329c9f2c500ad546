import type { TableColumns } from '../store/columns.js';

/**
 * `rate_counters` (migration 0461): limits counted across every controller
 * of a PostgreSQL store. One row per limiter (`discovery`, `node-credential`),
 * key (a subnet, a source address) and window (its start, ISO, on the minute);
 * `n` is what the controllers counted (or claimed) in that window.
 */
interface RateCountersTable {
  limiter: string;
  key: string;
  window_start: string;
  n: number;
}

/** The tables the rate limit domain owns. */
export interface RateTables {
  rate_counters: RateCountersTable;
}

/** The rate limit tables' columns at run time, for the schema drift test. */
export const rateColumns = {
  rate_counters: { limiter: 'text', key: 'text', window_start: 'text', n: 'integer' },
} as const satisfies TableColumns<RateTables>;

import type { TableColumns } from '../store/columns.js';

/** `rules` (migration 0002): `spec` is the JSON of `{ match, assign }`. */
interface RulesTable {
  name: string;
  priority: number;
  spec: string;
  created_at: string;
  updated_at: string;
}

/** The tables the rules own. */
export interface RuleTables {
  rules: RulesTable;
}

/** The rule tables' columns at run time, for the schema drift test. */
export const ruleColumns = {
  rules: { name: 'text', priority: 'integer', spec: 'text', created_at: 'text', updated_at: 'text' },
} as const satisfies TableColumns<RuleTables>;

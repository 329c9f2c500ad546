import type { InsertType, SelectType } from 'kysely';

/**
 * The column families Kiln's migrations create: `text` (also timestamps as
 * ISO-8601 UTC, JSON, 0/1-free enums), `integer` (SQLite INTEGER, PostgreSQL
 * int4: read back as a number on both) and `bigint` (PostgreSQL int8 and
 * bigserial, which node-postgres reads back as a string: the row type says
 * `number | string`).
 */
export type ColumnKind = 'text' | 'integer' | 'bigint';

type KindOf<S> = [S] extends [string]
  ? 'text'
  : [S] extends [number]
    ? 'integer'
    : [S] extends [number | string]
      ? 'bigint'
      : never;

/**
 * How the migrations create a column, derived from its Kysely column type:
 * `<kind>`, then ` null` when the column may hold NULL, then ` default` when
 * the database fills it on insert (a DEFAULT or an auto-increment; the type is
 * `Generated<…>` or `GeneratedAlways<…>`). E.g. `'text null'`, `'integer default'`.
 */
type ColumnSpec<C> =
  `${KindOf<NonNullable<SelectType<C>>>}${null extends SelectType<C> ? ' null' : ''}${[InsertType<C>] extends [never] ? ' default' : undefined extends InsertType<C> ? ' default' : ''}`;

/** The runtime column list of a table interface: `{ column: ColumnSpec }`, exactly its columns. */
type ColumnsOf<Table> = { readonly [K in keyof Table]-?: ColumnSpec<Table[K]> };

/**
 * The runtime description of a set of tables. Each domain writes one beside
 * its table interfaces with `satisfies TableColumns<…>`, so TypeScript fails
 * when the two disagree; `schema.test.ts` then holds the description against
 * what the migrations create.
 */
export type TableColumns<Tables> = { readonly [T in keyof Tables]-?: ColumnsOf<Tables[T]> };

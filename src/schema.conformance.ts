// One drift check of the typed schema against the migrations, on every store engine (SQLite, PostgreSQL).
import assert from 'node:assert/strict';
import { describe, it, before, after } from 'node:test';
import { sql, type Kysely } from 'kysely';
import type { DialectName } from './store/database.js';
import type { ColumnKind } from './store/columns.js';
import { databaseColumns, type Database } from './schema.js';

/** Opens an empty database migrated to the latest version; `close` removes it. */
export type OpenMigratedDb = () => Promise<{ db: Kysely<Database>; dialect: DialectName; close(): Promise<void> }>;

type Columns = Record<string, Record<string, string>>;

// Introspected type names (SQLite: as declared; PostgreSQL: pg_type.typname) to column kinds.
const kinds: Record<string, ColumnKind> = {
  text: 'text',
  integer: 'integer',
  int4: 'integer',
  bigint: 'bigint',
  int8: 'bigint',
};

/** SQLite has one integer type (64-bit, read back as a number): `bigint` there is `integer`. */
function normalise(spec: string, dialect: DialectName): string {
  return dialect === 'sqlite' ? spec.replace(/^bigint\b/, 'integer') : spec;
}

/** What the migrations created, as `{ table: { column: ColumnSpec } }` (Kysely's own tables left out). */
export async function migratedColumns(db: Kysely<Database>, dialect: DialectName): Promise<Columns> {
  const out: Columns = {};
  for (const t of await db.introspection.getTables()) {
    if (t.isView) continue;
    // A SQLite primary key other than INTEGER may hold NULL unless declared NOT NULL (sqlite.org/lang_createtable.html); Kiln never writes one, and PostgreSQL refuses it.
    const primaryKey = new Set(
      dialect === 'sqlite'
        ? (
            await sql<{ name: string }>`select name from pragma_table_info(${t.name}) where pk > 0`.execute(db)
          ).rows.map((r) => r.name)
        : [],
    );
    const columns: Record<string, string> = {};
    for (const c of t.columns) {
      const kind = kinds[c.dataType.toLowerCase()] ?? c.dataType;
      const nullable = c.isNullable && !primaryKey.has(c.name);
      const generated = c.hasDefaultValue || c.isAutoIncrementing;
      columns[c.name] = normalise(`${kind}${nullable ? ' null' : ''}${generated ? ' default' : ''}`, dialect);
    }
    out[t.name] = columns;
  }
  return out;
}

/** `databaseColumns` as the engine stores it. */
export function typedColumns(dialect: DialectName): Columns {
  const tables: Record<string, Record<string, string>> = databaseColumns;
  return Object.fromEntries(
    Object.entries(tables).map(([table, columns]) => [
      table,
      Object.fromEntries(Object.entries(columns).map(([c, spec]) => [c, normalise(spec, dialect)])),
    ]),
  );
}

export function runSchemaConformance(engine: string, openDb: OpenMigratedDb): void {
  describe(`typed schema matches the migrations (${engine})`, () => {
    let db: Kysely<Database>;
    let dialect: DialectName;
    let close: () => Promise<void>;
    before(async () => {
      const o = await openDb();
      ({ db, dialect, close } = o);
    });
    after(async () => close());

    it('has the same tables, columns, kinds, nullability and defaults as the *-tables.ts types', async () => {
      assert.deepEqual(
        await migratedColumns(db, dialect),
        typedColumns(dialect),
        'the migrations and the Database type (src/*/…-tables.ts) disagree: change the table interface and its column list with the migration',
      );
    });
  });
}

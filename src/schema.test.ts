import assert from 'node:assert/strict';
import { it } from 'node:test';
import { openSqlite } from './store/database.js';
import { migrateToLatest } from './store/migrate.js';
import { migratedColumns, runSchemaConformance, typedColumns } from './schema.conformance.js';

const openMigrated = async () => {
  const o = openSqlite(':memory:');
  await migrateToLatest(o.db);
  return { db: o.db, dialect: o.dialect, close: () => o.close() };
};

runSchemaConformance('sqlite', openMigrated);

it('the drift check sees a column or table a migration adds, drops or renames', async () => {
  const { db, close } = await openMigrated();
  try {
    const typed = typedColumns('sqlite');
    await db.schema.alterTable('rules').addColumn('comment', 'text').execute();
    assert.deepEqual((await migratedColumns(db, 'sqlite')).rules, { ...typed.rules, comment: 'text null' });
    await db.schema.alterTable('rules').renameColumn('spec', 'body').execute();
    assert.equal((await migratedColumns(db, 'sqlite')).rules?.spec, undefined);
    await db.schema.dropTable('install_tokens').execute();
    await db.schema
      .createTable('extra')
      .addColumn('id', 'text', (c) => c.primaryKey())
      .execute();
    const tables = Object.keys(await migratedColumns(db, 'sqlite'));
    assert.ok(!tables.includes('install_tokens') && tables.includes('extra'));
    assert.notDeepEqual(await migratedColumns(db, 'sqlite'), typed);
  } finally {
    await close();
  }
});

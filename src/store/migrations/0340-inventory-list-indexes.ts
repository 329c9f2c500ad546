import { sql, type Kysely } from 'kysely';
import { isPostgres } from '../database.js';

// Host list at 100 000 hosts (docs/inventory.md): every list filter is served
// by an index in list order (host name), so a page costs one index range of
// `limit` rows whatever the filter.
// - host_tags and the new host_labels carry the host's name (`host_name`,
//   rewritten with the host on every change, as its tags already are), indexed
//   (tag, host_name) and (key, value, host_name).
// - hosts gets (profile, name); (state, name) exists since 0001.
// - hosts gets `doc`: the host as the API shows it (JSON), written with the
//   host, so a list page is `limit` stored strings, not rows, NICs and tags
//   rendered again; `doc_version` is the host version it shows (0: none yet,
//   rendered at start-up or per request until then).
// - PostgreSQL compares host names bytewise (COLLATE "C", SQLite's own
//   order): keyset cursors and the prefix range must not depend on the
//   server's locale, where `web-` and `web1` may sort either way.
const BATCH = 500;

export async function up(db: Kysely<unknown>): Promise<void> {
  const pg = isPostgres(db);
  const nameType = pg ? sql`text collate "C"` : sql`text`;
  if (pg) await sql`alter table hosts alter column name type text collate "C"`.execute(db);

  await db.schema
    .alterTable('host_tags')
    .addColumn('host_name', nameType, (c) => c.notNull().defaultTo(''))
    .execute();
  await sql`update host_tags set host_name = (select name from hosts where hosts.id = host_tags.host_id)`.execute(db);
  await db.schema.dropIndex('host_tags_tag').execute();
  await db.schema.createIndex('host_tags_tag_name').on('host_tags').columns(['tag', 'host_name']).execute();

  await db.schema
    .createTable('host_labels')
    .addColumn('host_id', 'text', (c) => c.notNull().references('hosts.id').onDelete('cascade'))
    .addColumn('key', 'text', (c) => c.notNull())
    .addColumn('value', 'text', (c) => c.notNull())
    .addColumn('host_name', nameType, (c) => c.notNull())
    .addPrimaryKeyConstraint('host_labels_pk', ['host_id', 'key'])
    .execute();
  await db.schema
    .createIndex('host_labels_key_value_name')
    .on('host_labels')
    .columns(['key', 'value', 'host_name'])
    .execute();
  // Fill host_labels from the labels documents, a bounded batch of hosts at a time.
  const d = db as Kysely<{
    hosts: { id: string; name: string; labels: string };
    host_labels: { host_id: string; key: string; value: string; host_name: string };
  }>;
  let after = '';
  for (;;) {
    const rows = await d
      .selectFrom('hosts')
      .select(['id', 'name', 'labels'])
      .where('id', '>', after)
      .orderBy('id')
      .limit(BATCH)
      .execute();
    if (rows.length === 0) break;
    const values = rows.flatMap((r) =>
      Object.entries(JSON.parse(r.labels) as Record<string, string>).map(([key, value]) => ({
        host_id: r.id,
        key,
        value: String(value),
        host_name: r.name,
      })),
    );
    for (let i = 0; i < values.length; i += BATCH)
      await d
        .insertInto('host_labels')
        .values(values.slice(i, i + BATCH))
        .execute();
    after = rows.at(-1)!.id;
  }

  await db.schema.createIndex('hosts_profile').on('hosts').columns(['profile', 'name']).execute();
  await db.schema
    .alterTable('hosts')
    .addColumn('doc', 'text', (c) => c.notNull().defaultTo(''))
    .execute();
  await db.schema
    .alterTable('hosts')
    .addColumn('doc_version', 'integer', (c) => c.notNull().defaultTo(0))
    .execute();
}

export async function down(db: Kysely<unknown>): Promise<void> {
  await db.schema.alterTable('hosts').dropColumn('doc_version').execute();
  await db.schema.alterTable('hosts').dropColumn('doc').execute();
  await db.schema.dropIndex('hosts_profile').ifExists().execute();
  await db.schema.dropTable('host_labels').ifExists().execute();
  await db.schema.dropIndex('host_tags_tag_name').ifExists().execute();
  await db.schema.alterTable('host_tags').dropColumn('host_name').execute();
  await db.schema.createIndex('host_tags_tag').on('host_tags').column('tag').execute();
  if (isPostgres(db)) await sql`alter table hosts alter column name type text collate "default"`.execute(db);
}

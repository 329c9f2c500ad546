import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { Kysely, Migrator, SqliteDialect } from 'kysely';
import type { Database } from '../schema.js';
import { openSqlite } from '../store/database.js';
import { fileMigrationProvider, migrateToLatest } from '../store/migrate.js';
import { runHostListConformance } from './host-list.conformance.js';
import type { HostFilter } from './host.js';
import { listHostDocs, renderStaleDocs, staleDocIds } from './sql-host-store.js';
import { normalizeMac } from '../net/mac.js';

runHostListConformance('sqlite', async () => {
  const o = openSqlite(':memory:');
  await migrateToLatest(o.db);
  return o;
});

// SQLite plans without statistics (no ANALYZE), so the plan of a query is the
// same on an empty table as at 100 000 hosts: each filter's page must come from
// an index range in name order, never a scan of the hosts or a sort of the matches.
describe('host list query plans (SQLite)', () => {
  const single: Array<[string, HostFilter, RegExp]> = [
    ['unfiltered', {}, /SEARCH hosts USING INDEX sqlite_autoindex_hosts_\d \(name>\?\)/],
    ['state', { state: 'ready' }, /SEARCH hosts USING INDEX hosts_state \(state=\? AND name>\?\)/],
    ['profile', { profile: 'debian-12' }, /SEARCH hosts USING INDEX hosts_profile \(profile=\? AND name>\?\)/],
    ['tag', { tag: 'rack7' }, /SEARCH d USING INDEX host_tags_tag_name \(tag=\? AND host_name>\?\)/],
    [
      'label',
      { label: { key: 'rack', value: 'r07' } },
      /SEARCH d USING INDEX host_labels_key_value_name \(key=\? AND value=\? AND host_name>\?\)/,
    ],
    ['mac', { mac: normalizeMac('52:54:00:00:00:01') }, /SEARCH d USING INDEX sqlite_autoindex_host_nics_1 \(mac=\?\)/],
    ['prefix', { namePrefix: 'web-' }, /SEARCH hosts USING INDEX sqlite_autoindex_hosts_\d \(name>\? AND name<\?\)/],
  ];
  it('the start-up search for stale documents reads the partial index, not the hosts', async () => {
    const o = openSqlite(':memory:');
    try {
      await migrateToLatest(o.db);
      const q = staleDocIds(o.db, '', 500).compile();
      const plan = (o.sqlite!.prepare(`explain query plan ${q.sql}`).all(...q.parameters) as Array<{ detail: string }>)
        .map((p) => p.detail)
        .join('\n');
      assert.match(plan, /SEARCH hosts USING (COVERING )?INDEX hosts_stale_doc \(id>\?\)/, plan);
      assert.doesNotMatch(plan, /TEMP B-TREE/, plan);
    } finally {
      await o.close();
    }
  });
  const combined: HostFilter[] = [
    { state: 'ready', tag: 'rack7' },
    { tag: 'gpu', label: { key: 'rack', value: 'r07' }, namePrefix: 'node-' },
    { profile: 'debian-12', state: 'deployed', namePrefix: 'node-' },
    { mac: normalizeMac('52:54:00:00:00:01'), tag: 'gpu', label: { key: 'a', value: 'b' } },
  ];

  async function plans(f: HostFilter): Promise<string> {
    const o = openSqlite(':memory:');
    try {
      await migrateToLatest(o.db);
      const seen: string[] = [];
      const db = new Kysely<Database>({
        dialect: new SqliteDialect({ database: o.sqlite! }),
        log: (e) => {
          if (e.level === 'query') seen.push(e.query.sql);
        },
      });
      await listHostDocs(db, { ...f, after: 'm', limit: 101 });
      const page = seen[0]!;
      const plan = o.sqlite!.prepare(`explain query plan ${page}`).all(
        ...page
          .split('?')
          .slice(1)
          .map(() => null),
      );
      return (plan as Array<{ detail: string }>).map((p) => p.detail).join('\n');
    } finally {
      await o.close();
    }
  }

  for (const [name, f, uses] of single) {
    it(`${name}: an index range in name order, no scan, no sort`, async () => {
      const plan = await plans(f);
      assert.match(plan, uses, plan);
      assert.doesNotMatch(plan, /TEMP B-TREE/, plan);
      assert.doesNotMatch(plan, /^SCAN (?!hosts USING INDEX sqlite_autoindex_hosts_)/m, plan);
    });
  }

  it('combined filters never scan a table', async () => {
    for (const f of combined) {
      const plan = await plans(f);
      assert.doesNotMatch(
        plan,
        /^SCAN (?!hosts USING INDEX sqlite_autoindex_hosts_)/m,
        `${JSON.stringify(f)}\n${plan}`,
      );
    }
  });
});

describe('migration 0340 on a store with hosts', () => {
  it('fills host_tags.host_name and host_labels from existing hosts; their documents render once', async () => {
    const o = openSqlite(':memory:');
    try {
      const before = {
        getMigrations: async () =>
          Object.fromEntries(Object.entries(await fileMigrationProvider.getMigrations()).filter(([n]) => n < '0340')),
      };
      const r = await new Migrator({ db: o.db, provider: before, allowUnorderedMigrations: true }).migrateToLatest();
      assert.equal(r.error, undefined);
      const at = new Date(0).toISOString();
      for (const [i, name] of ['old-b', 'old-a', 'old-c'].entries()) {
        o.sqlite!.prepare(
          `insert into hosts (id, name, state, labels, created_at, updated_at) values (?, ?, 'new', ?, ?, ?)`,
        ).run(`id-${i}`, name, JSON.stringify({ rack: i === 2 ? 'r2' : 'r1' }), at, at);
        o.sqlite!.prepare('insert into host_tags (host_id, tag) values (?, ?)').run(`id-${i}`, 'old');
      }
      await migrateToLatest(o.db);
      const names = async (f: HostFilter) => (await listHostDocs(o.db, f)).map((d) => JSON.parse(d.doc).name as string);
      assert.deepEqual(await names({ tag: 'old' }), ['old-a', 'old-b', 'old-c']);
      assert.deepEqual(await names({ label: { key: 'rack', value: 'r1' } }), ['old-a', 'old-b']);
      assert.deepEqual(await names({ tag: 'old', after: 'old-a', limit: 1 }), ['old-b']);
      assert.equal(await renderStaleDocs(o.db), 3);
      assert.deepEqual(
        (await listHostDocs(o.db, {})).map((d) => JSON.parse(d.doc).labels),
        [{ rack: 'r1' }, { rack: 'r1' }, { rack: 'r2' }],
      );
    } finally {
      await o.close();
    }
  });
});

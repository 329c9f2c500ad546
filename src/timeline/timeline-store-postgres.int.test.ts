import assert from 'node:assert/strict';
import { test } from 'node:test';
import { createTempPostgres } from '../../test/support/postgres.js';
import { openDatabase } from '../store/database.js';
import { migrateToLatest } from '../store/migrate.js';
import { createSqlTimelineStore, type SessionRow } from './sql-timeline-store.js';
import { checkStallCandidatePaging } from './stall-candidates.conformance.js';

// The timeline store on a real PostgreSQL: session upserts keyed by (MAC, session), observations in order, pruning.
test('timeline store on PostgreSQL: sessions upsert by (MAC, session), observations list in order, pruning keeps the newest', async () => {
  const pg = await createTempPostgres('timeline');
  const o = await openDatabase({ dataDir: '', databaseUrl: pg.url });
  try {
    await migrateToLatest(o.db);
    const store = createSqlTimelineStore(o.db);
    const row = (n: number, state = '{}'): SessionRow => ({
      mac: '52:54:00:00:00:01',
      sessionId: `00000000000${n}`,
      hostId: null,
      hostName: 'node-525400000001',
      startedAt: `2026-12-06T08:0${n}:00.000Z`,
      updatedAt: `2026-12-06T08:0${n}:30.000Z`,
      state,
    });
    const obs = (n: number, stage: string) => ({
      mac: '52:54:00:00:00:01',
      sessionId: `00000000000${n}`,
      at: `2026-12-06T08:0${n}:01.000Z`,
      stage,
      outcome: 'ok',
      detail: stage,
    });
    await store.write([row(1)], [obs(1, 'dhcp'), obs(1, 'boot-file')]);
    await store.write([{ ...row(1, '{"x":1}'), hostId: 'h1' }, row(2)], [obs(1, 'ipxe-dhcp'), obs(2, 'dhcp')]);
    const sessions = await store.listSessions({ macs: [], hostId: 'h1', limit: 10 });
    assert.deepEqual(
      sessions.map((s) => [s.sessionId, s.state]),
      [['000000000001', '{"x":1}']],
    );
    assert.equal(
      (await store.listSessions({ macs: ['52:54:00:00:00:01'], hostId: null, limit: 10 }))[0].sessionId,
      '000000000002',
    );
    assert.deepEqual(
      (await store.listObservations('52:54:00:00:00:01', '000000000001', 10)).map((x) => x.stage),
      ['dhcp', 'boot-file', 'ipxe-dhcp'],
    );
    assert.equal(await store.prune({ before: '2026-01-01T00:00:00.000Z', perMac: 1 }), 1);
    assert.deepEqual(await store.listObservations('52:54:00:00:00:01', '000000000001', 10), []);
  } finally {
    await o.close();
    await pg.drop();
  }
});

test('stall candidates page by MAC (PostgreSQL): each MAC once with its newest session, also when a MAC has more sessions than a page', async () => {
  const pg = await createTempPostgres('timeline-stalls');
  const o = await openDatabase({ dataDir: '', databaseUrl: pg.url });
  try {
    await migrateToLatest(o.db);
    await checkStallCandidatePaging(createSqlTimelineStore(o.db));
  } finally {
    await o.close();
    await pg.drop();
  }
});

import assert from 'node:assert/strict';
import { test } from 'node:test';
import { createTempPostgres } from '../../test/support/postgres.js';
import { openDatabase } from '../store/database.js';
import { migrateToLatest } from '../store/migrate.js';
import type { HostHealth } from './health-model.js';
import { createSqlHealthStore } from './sql-health-store.js';

const health = (hostId: string, lastSeenAt: number, bootId: string): HostHealth => ({
  hostId,
  hostName: `node-${hostId}`,
  lastSeenAt,
  lastIp: '10.95.0.2',
  report: {
    bootId,
    uptimeSeconds: 5,
    kernel: '6.1.0',
    load: [0, 0, 0],
    memory: null,
    disks: [],
    failedUnits: null,
    machineChecks: null,
    edac: null,
    smart: null,
    session: null,
    agentVersion: 1,
  },
  unreachable: false,
  auditedAt: null,
  auditedBootId: null,
  hardwareHash: null,
});

// The health store (migration 0350) on a real PostgreSQL: one batch upserts by host, reads back, lists by last-seen.
test('health store on PostgreSQL: a batch upserts by host; get, list since and delete', async () => {
  const pg = await createTempPostgres('heartbeat');
  const o = await openDatabase({ dataDir: '', databaseUrl: pg.url });
  try {
    await migrateToLatest(o.db);
    const store = createSqlHealthStore(o.db);
    await store.put([
      health('h1', Date.parse('2026-12-06T10:00:00Z'), 'a-boot-0001'),
      health('h2', Date.parse('2026-12-06T09:00:00Z'), 'b-boot-0001'),
    ]);
    await store.put([{ ...health('h1', Date.parse('2026-12-06T11:00:00Z'), 'a-boot-0002'), unreachable: true }]);
    const h1 = await store.get('h1');
    assert.equal(h1?.report.bootId, 'a-boot-0002');
    assert.equal(h1?.unreachable, true);
    assert.deepEqual(
      (await store.list('2026-12-06T09:30:00.000Z')).map((h) => h.hostId),
      ['h1'],
    );
    assert.equal((await store.list(new Date(0).toISOString())).length, 2);
    await store.delete('h2');
    assert.equal(await store.get('h2'), null);
  } finally {
    await o.close();
    await pg.drop();
  }
});

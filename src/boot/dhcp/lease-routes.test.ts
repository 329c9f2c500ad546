import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createTestController } from '../../../test/support/controller.js';
import { createSqlLeaseStore } from './sql-lease-store.js';

const NOW = Date.parse('2026-12-04T12:00:00Z');

test('GET /leases lists active leases in address order, filters by subnet, MAC, IP and state, and shows expired ones on request', async () => {
  const c = await createTestController({ now: () => new Date(NOW) });
  try {
    const store = createSqlLeaseStore(c.db);
    const hour = 3600_000;
    await store.putMany(
      [
        {
          ip: '10.0.0.100',
          mac: '52:54:00:00:00:01',
          subnet: '10.0.0.0/24',
          expiresAt: NOW + hour,
          hostname: 'a',
          state: 'bound',
        },
        { ip: '10.0.0.20', mac: '52:54:00:00:00:02', subnet: '10.0.0.0/24', expiresAt: NOW + hour, state: 'bound' },
        { ip: '10.0.0.3', mac: '52:54:00:00:00:03', subnet: '10.0.0.0/24', expiresAt: NOW - 1, state: 'bound' },
        { ip: '10.0.0.4', mac: '52:54:00:00:00:04', subnet: '10.0.0.0/24', expiresAt: NOW + hour, state: 'declined' },
        { ip: '10.1.0.9', mac: '52:54:00:00:00:05', subnet: '10.1.0.0/24', expiresAt: NOW + hour, state: 'bound' },
      ],
      NOW - 2 * hour,
    );
    const get = async (qs: string, auth: string | null = c.bearer.viewer) => {
      const res = await c.app.inject({
        method: 'GET',
        url: `/api/v1/leases${qs}`,
        headers: auth ? { authorization: auth } : {},
      });
      return {
        status: res.statusCode,
        body: res.json() as {
          items: Array<{
            ip: string;
            mac: string;
            state: string;
            active: boolean;
            hostname: string | null;
            expiresAt: string;
          }>;
          total: number;
          error?: { code: string; message: string };
        },
      };
    };
    const all = await get('');
    assert.equal(all.status, 200);
    assert.deepEqual(
      all.body.items.map((l) => l.ip),
      ['10.0.0.4', '10.0.0.20', '10.0.0.100', '10.1.0.9'],
      'numeric order, expired left out',
    );
    assert.deepEqual(all.body.items[2], {
      ip: '10.0.0.100',
      mac: '52:54:00:00:00:01',
      subnet: '10.0.0.0/24',
      hostname: 'a',
      state: 'bound',
      expiresAt: new Date(NOW + hour).toISOString(),
      active: true,
    });
    assert.deepEqual(
      (await get('?all=true')).body.items.map((l) => `${l.ip}:${l.active}`),
      ['10.0.0.3:false', '10.0.0.4:true', '10.0.0.20:true', '10.0.0.100:true', '10.1.0.9:true'],
    );
    assert.deepEqual(
      (await get('?subnet=10.1.0.0/24')).body.items.map((l) => l.ip),
      ['10.1.0.9'],
    );
    assert.deepEqual(
      (await get('?mac=52-54-00-00-00-02')).body.items.map((l) => l.ip),
      ['10.0.0.20'],
      'any MAC notation',
    );
    assert.deepEqual(
      (await get('?state=declined')).body.items.map((l) => l.ip),
      ['10.0.0.4'],
    );
    assert.deepEqual(
      (await get('?ip=10.0.0.100')).body.items.map((l) => l.mac),
      ['52:54:00:00:00:01'],
    );
    const limited = await get('?limit=2');
    assert.deepEqual([limited.body.items.length, limited.body.total], [2, 4]);

    const badMac = await get('?mac=nope');
    assert.equal(badMac.status, 400);
    assert.equal(badMac.body.error?.code, 'validation_failed');
    assert.equal((await get('?ip=10.0.0')).body.error?.code, 'validation_failed');
    assert.equal((await get('?ip=10.0.0.300')).body.error?.code, 'validation_failed');
    for (const bad of ['999.1.1.1/99', '10.0.0.0/33', '10.0.0.0', 'x/24', '10.0.0.0/24/1', '']) {
      const r = await get(`?subnet=${encodeURIComponent(bad)}`);
      assert.equal(r.status, 400, `subnet=${bad}`);
      assert.equal(r.body.error?.code, 'validation_failed', `subnet=${bad}`);
    }
    assert.equal((await get('?color=red')).status, 400);
    assert.equal((await get('', null)).status, 401, 'leases need a token');
  } finally {
    await c.close();
  }
});

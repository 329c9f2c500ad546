// Layout ab on the controller: a heartbeat whose A/B status says GRUB fell back
// from the newest deployment's slot marks that deployment rolled_back with one
// deploy.rolled_back event (repeats change nothing); `kiln host rollback`'s
// route is refused for a host not deployed with layout ab, and otherwise
// reaches the agent once, as the reply line `ab-switch 1`.
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { openSqlite } from '../store/database.js';
import { migrateToLatest } from '../store/migrate.js';
import { createTestController, type TestController } from '../../test/support/controller.js';
import { insertDeployment } from './deployment.js';

const mac = '52:54:00:95:0a:0b';
const facts = {
  bootMac: mac,
  cpu: { model: 'Test CPU', count: 2 },
  memory: { totalBytes: 2_000_000_000, installedBytes: 2_147_483_648 },
  nics: [{ name: 'eth0', mac, driver: 'virtio_net' }],
  disks: [{ name: 'vda', sizeBytes: 10_000_000_000, model: 'D', serial: 's1', rotational: false }],
};
const beat = { bootId: '0f0f0f0f-1111-2222-3333-444444444455', uptimeSeconds: 30, kernel: '6.1.0' };

describe('layout ab: deploy.rolled_back and kiln host rollback', () => {
  const store = openSqlite(':memory:');
  let c: TestController;
  let credential = '';
  let hostId = '';
  before(async () => {
    await migrateToLatest(store.db);
    c = await createTestController({ db: store.db });
    const r = await c.app.inject({ method: 'POST', url: '/api/v1/node/discover', payload: { facts } });
    assert.equal(r.statusCode, 200, r.body);
    credential = r.json<{ credential: string }>().credential;
    hostId = r.json<{ hostId: string }>().hostId;
  });
  after(() => c.close());

  const heartbeat = (ab: object | undefined) =>
    c.app.inject({
      method: 'POST',
      url: '/api/v1/node/heartbeat',
      headers: { authorization: `Bearer ${credential}`, accept: 'text/plain' },
      payload: { ...beat, ...(ab ? { ab } : {}) },
    });
  const rollback = () =>
    c.app.inject({
      method: 'POST',
      url: `/api/v1/hosts/${hostId}/rollback`,
      headers: { authorization: c.bearer.operator },
      payload: {},
    });
  const events = async (kind: string) =>
    (
      await c.app.inject({
        method: 'GET',
        url: `/api/v1/events?kind=${kind}`,
        headers: { authorization: c.bearer.admin },
      })
    ).json<{
      items: Array<{ message: string; data: Record<string, unknown> }>;
    }>().items;
  const deployment = (id: string, layout: string, at: string) =>
    insertDeployment(store.db, {
      id,
      hostId,
      profile: 'image-ab',
      files: {},
      bootSpec: { kernel: 'k', initrd: [], cmdline: '' },
      imageSpec: { name: 'base', layout },
      status: 'deploying',
      createdAt: at,
      createdBy: 'test',
      installedAt: null,
      completedAt: null,
    });

  it('refuses a rollback for a host not deployed with layout ab, saying why', async () => {
    await deployment('d-single', 'single', '2026-12-01T00:00:00.000Z');
    const r = await rollback();
    assert.equal(r.statusCode, 400, r.body);
    assert.match(r.json<{ error: { message: string } }>().error.message, /was not deployed with layout ab/);
  });

  it('a fall-back report marks the newest ab deployment rolled_back once, with one event', async () => {
    await deployment('d-ab', 'ab', '2026-12-02T00:00:00.000Z');
    const ok = await heartbeat({ slot: 'b', good: 'b', fellBack: null });
    assert.equal(ok.statusCode, 200, ok.body);
    assert.doesNotMatch(ok.body, /ab-switch/);
    assert.equal((await events('deploy.rolled_back')).length, 0);
    for (let i = 0; i < 2; i++) {
      const r = await heartbeat({ slot: 'b', good: 'b', try: null, tries: null, fellBack: 'a' });
      assert.equal(r.statusCode, 200, r.body);
    }
    const ev = await events('deploy.rolled_back');
    assert.equal(ev.length, 1, 'one event for repeated reports of the same fall-back');
    assert.match(
      ev[0].message,
      /fell back to slot b: slot a of deployment d-ab \(image-ab\) did not pass its health check/,
    );
    assert.deepEqual(ev[0].data, { deployment: 'd-ab', profile: 'image-ab', failedSlot: 'a', slot: 'b' });
    const list = await c.app.inject({
      method: 'GET',
      url: `/api/v1/hosts/${hostId}/deployments`,
      headers: { authorization: c.bearer.viewer },
    });
    assert.equal(list.json<{ items: Array<{ id: string; status: string }> }>().items[0].status, 'rolled_back');
  });

  it('kiln host rollback reaches the agent once, as `ab-switch 1` in the heartbeat reply', async () => {
    const r = await rollback();
    assert.equal(r.statusCode, 202, r.body);
    assert.equal(r.json<{ delivery: string }>().delivery, 'heartbeat');
    assert.equal((await events('host.rollback_requested')).length, 1);
    const first = await heartbeat({ slot: 'b', good: 'b', fellBack: null });
    assert.match(first.body, /\nab-switch 1\n$/);
    const second = await heartbeat({ slot: 'a', good: 'a', fellBack: null });
    assert.doesNotMatch(second.body, /ab-switch/, 'handed over once');
    assert.equal((await events('host.rollback_sent')).length, 1);
    const viewer = await c.app.inject({
      method: 'POST',
      url: `/api/v1/hosts/${hostId}/rollback`,
      headers: { authorization: c.bearer.viewer },
      payload: {},
    });
    assert.equal(viewer.statusCode, 403);
  });
});

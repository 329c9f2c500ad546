// GET /hosts/{host}/deployments names the installer's status page
// (installer-status.ts) at the address the host's node enrolled from, only
// while the host deploys.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { createTestController } from '../../test/support/controller.js';

test('deployments: the newest carries statusUrl at the node address while deploying, none after', async () => {
  const c = await createTestController();
  try {
    const op = { authorization: c.bearer.operator };
    const viewer = { authorization: c.bearer.viewer };
    const mac = '52:54:00:85:00:07';
    const list = async () =>
      (await c.app.inject({ url: '/api/v1/hosts/sp-a/deployments', headers: viewer })).json().items as Array<
        Record<string, unknown>
      >;
    const made = await c.app.inject({
      method: 'POST',
      url: '/api/v1/hosts',
      headers: op,
      payload: { name: 'sp-a', state: 'ready', nics: [{ mac }] },
    });
    assert.equal(made.statusCode, 201);
    const deployed = await c.app.inject({
      method: 'POST',
      url: '/api/v1/hosts/sp-a/deploy',
      headers: op,
      payload: { profile: 'debian-12' },
    });
    assert.equal(deployed.statusCode, 200);
    assert.equal((await list())[0].statusUrl, undefined, 'no node address yet: no link');

    const enrol = await c.app.inject({
      method: 'POST',
      url: '/api/v1/node/enrol',
      remoteAddress: '10.85.0.7',
      payload: { mac },
    });
    assert.equal(enrol.statusCode, 200, enrol.body);
    assert.equal((await list())[0].statusUrl, 'http://10.85.0.7:6978/');

    // The writer reports a failed step: the host leaves deploying, the link goes.
    const failed = await c.app.inject({
      method: 'POST',
      url: '/api/v1/node/failed',
      remoteAddress: '10.85.0.7',
      headers: { authorization: `Bearer ${enrol.json().credential as string}` },
      payload: { stage: 'partition', reason: 'partitioning failed' },
    });
    assert.ok(failed.statusCode < 300, failed.body);
    const host = (await c.app.inject({ url: '/api/v1/hosts/sp-a', headers: viewer })).json();
    assert.notEqual(host.state, 'deploying');
    assert.equal((await list())[0].statusUrl, undefined, 'the writer is gone: no link');
  } finally {
    await c.close();
  }
});

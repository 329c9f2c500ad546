// GET /hosts/{host}/deployments names the image writer's status page
// (installer-status.ts) at the address the host's node enrolled from, only
// while the host deploys an image (an OS installer serves no such page).
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
      payload: { profile: 'kiln-image', variables: { imageName: 'busybox-test' } },
    });
    assert.equal(deployed.statusCode, 200, deployed.body);
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

    // A Debian-installer deploy: its node enrols too, but no writer serves the page.
    const macB = '52:54:00:85:00:08';
    await c.app.inject({
      method: 'POST',
      url: '/api/v1/hosts',
      headers: op,
      payload: { name: 'sp-b', state: 'ready', nics: [{ mac: macB }] },
    });
    const di = await c.app.inject({
      method: 'POST',
      url: '/api/v1/hosts/sp-b/deploy',
      headers: op,
      payload: { profile: 'debian-12' },
    });
    assert.equal(di.statusCode, 200, di.body);
    const enrolB = await c.app.inject({
      method: 'POST',
      url: '/api/v1/node/enrol',
      remoteAddress: '10.85.0.8',
      payload: { mac: macB },
    });
    assert.equal(enrolB.statusCode, 200, enrolB.body);
    const itemsB = (await c.app.inject({ url: '/api/v1/hosts/sp-b/deployments', headers: viewer })).json().items;
    assert.equal(itemsB[0].statusUrl, undefined, 'no status page for an OS installer');
  } finally {
    await c.close();
  }
});

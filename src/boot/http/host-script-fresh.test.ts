// The per-host script of a deploying host is answered from memory (the script
// cache, and on SQLite the deploy service's boot-deployment cache): no fetch
// may get a script older than the deployment it boots.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { createTestController } from '../../../test/support/controller.js';

const mac = '52:54:00:5f:00:01';
const url = `/boot/host.ipxe?mac=${mac}&platform=efi&arch=x86_64`;

test('a deploying host never gets a stale script: its deployment installed, the host made ready, deployed again', async () => {
  const c = await createTestController();
  try {
    const op = { authorization: c.bearer.operator };
    const made = await c.app.inject({
      method: 'POST',
      url: '/api/v1/hosts',
      headers: op,
      payload: { name: 'fresh-1', state: 'ready', nics: [{ mac }] },
    });
    assert.equal(made.statusCode, 201, made.body);
    const deploy = async () => {
      const res = await c.app.inject({
        method: 'POST',
        url: '/api/v1/hosts/fresh-1/deploy',
        headers: op,
        payload: { profile: 'debian-12' },
      });
      assert.equal(res.statusCode, 200, res.body);
      return res.json<{ deployment: { id: string } }>().deployment.id;
    };
    const token = (script: string) => /\/api\/v1\/node\/install\/([^/\s]+)\//.exec(script)?.[1];
    const fetchScript = async () => {
      const res = await c.app.inject({ url });
      assert.equal(res.statusCode, 200, res.body);
      return res.body;
    };

    const first = await deploy();
    const install = await fetchScript();
    assert.match(install, /installing profile debian-12/);
    assert.ok(token(install), install);
    assert.equal(await fetchScript(), install, 'a repeated fetch gets the same script');

    // The installer reports `installed`: the deployment's status changes, the host (and its version) does not.
    await c.deploy.setDeploymentStatus(first, 'installed');
    const local = await fetchScript();
    assert.match(local, /installed, booting from local disk/);

    // Moved back to ready by hand: local disk.
    const ready = await c.app.inject({
      method: 'POST',
      url: '/api/v1/hosts/fresh-1/state',
      headers: op,
      payload: { state: 'ready', reason: 'test' },
    });
    assert.equal(ready.statusCode, 200, ready.body);
    assert.match(await fetchScript(), /fresh-1 is ready: booting from local disk/);

    // Deployed again: a new deployment, so a new install token.
    await deploy();
    const again = await fetchScript();
    assert.match(again, /installing profile debian-12/);
    assert.notEqual(token(again), token(install));
  } finally {
    await c.close();
  }
});

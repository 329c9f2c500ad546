import assert from 'node:assert/strict';
import { test } from 'node:test';
import { createTestController } from '../../test/support/controller.js';

test('host-certificates: a JSON publicKeys list holding a non-string is validation_failed (400), not a crash', async (t) => {
  const c = await createTestController();
  t.after(() => c.close());
  const mac = '52:54:00:77:00:08';
  const created = await c.app.inject({
    method: 'POST',
    url: '/api/v1/hosts',
    headers: { authorization: c.bearer.operator },
    payload: { name: 'node8', nics: [{ mac }] },
  });
  assert.equal(created.statusCode, 201);
  const discovered = await c.app.inject({
    method: 'POST',
    url: '/api/v1/node/discover',
    payload: { facts: { bootMac: mac, nics: [{ mac }] } },
  });
  const cred = discovered.json<{ credential: string }>().credential;
  for (const payload of [{ publicKeys: [42] }, { publicKeys: 'ssh-ed25519 AAAA' }, { keys: [] }]) {
    const r = await c.app.inject({
      method: 'POST',
      url: '/api/v1/node/ssh/host-certificates',
      headers: { authorization: `Bearer ${cred}` },
      payload,
    });
    assert.equal(r.statusCode, 400, JSON.stringify(payload));
    assert.equal(r.json<{ error: { code: string } }>().error.code, 'validation_failed');
  }
});

import assert from 'node:assert/strict';
import { generateKeyPairSync } from 'node:crypto';
import { test } from 'node:test';
import { createTestController } from '../../test/support/controller.js';

function sshKeyLine(): string {
  const raw = generateKeyPairSync('ed25519').publicKey.export({ format: 'der', type: 'spki' }).subarray(12);
  return `ssh-ed25519 ${Buffer.concat([Buffer.from([0, 0, 0, 11]), Buffer.from('ssh-ed25519'), Buffer.from([0, 0, 0, 32]), raw]).toString('base64')} host@test`;
}

test("release and retire revoke the host's SSH certificates (they join the KRL); a host without certificates releases and retires as before", async () => {
  const c = await createTestController();
  try {
    const op = { authorization: c.bearer.operator };
    const post = (url: string, payload: object) => c.app.inject({ method: 'POST', url, headers: op, payload });
    const certs = async (name: string) => c.ssh.list((await c.inventory.getHost(name)).id);
    for (const name of ['rel-1', 'ret-1', 'bare-1'])
      assert.equal((await post('/api/v1/hosts', { name, state: 'ready' })).statusCode, 201);
    for (const name of ['rel-1', 'ret-1'])
      await c.ssh.signHostKeys((await c.inventory.getHost(name)).id, [sshKeyLine()]);
    const krlBefore = Buffer.from(await c.ssh.krl());

    // rel-1: ready → deploying → deployed → release.
    assert.equal((await post('/api/v1/hosts/rel-1/deploy', { profile: 'debian-12' })).statusCode, 200);
    assert.equal((await post('/api/v1/hosts/rel-1/state', { state: 'deployed' })).statusCode, 200);
    assert.ok(
      (await certs('rel-1')).every((x) => x.revokedAt === null),
      'deploying does not revoke',
    );
    assert.equal((await post('/api/v1/hosts/rel-1/release', {})).statusCode, 200);
    assert.ok(
      (await certs('rel-1')).every((x) => x.revokedAt !== null),
      'released: every certificate revoked',
    );

    assert.equal((await post('/api/v1/hosts/ret-1/state', { state: 'retired', reason: 'sold' })).statusCode, 200);
    assert.ok(
      (await certs('ret-1')).every((x) => x.revokedAt !== null),
      'retired: every certificate revoked',
    );
    assert.ok(Buffer.from(await c.ssh.krl()).length > krlBefore.length, 'the KRL lists the revoked serials');

    assert.equal(
      (await post('/api/v1/hosts/bare-1/state', { state: 'retired' })).statusCode,
      200,
      'no certificates is fine',
    );
    const events = (
      await c.app.inject({ url: '/api/v1/events?kind=ssh.revoked', headers: { authorization: c.bearer.viewer } })
    ).json().items as Array<{ reason: string }>;
    assert.deepEqual(events.map((e) => e.reason).sort(), ['host released', 'sold']);
  } finally {
    await c.close();
  }
});

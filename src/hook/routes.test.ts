import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { createTestController, type TestController } from '../../test/support/controller.js';

describe('hook routes and the labeler write-back', () => {
  let c: TestController;
  before(async () => {
    c = await createTestController();
  });
  after(() => c.close());

  const call = (method: 'GET' | 'POST' | 'PUT' | 'PATCH' | 'DELETE', url: string, auth: string, payload?: unknown) =>
    c.app.inject({ method, url, headers: { authorization: auth }, payload: payload as object | undefined });

  it('creates a hook (admin): the secret is shown once, stored sealed, never returned again', async () => {
    const res = await call('POST', '/api/v1/hooks', c.bearer.admin, {
      name: 'dns',
      url: 'https://hooks.example/kiln',
      kinds: ['host.state', 'host.state'],
    });
    assert.equal(res.statusCode, 201, res.body);
    const { secret, hook } = res.json<{ secret: string; hook: { id: string; kinds: string[] } }>();
    assert.match(secret, /^khs_[A-Za-z0-9_-]{43}$/);
    assert.deepEqual(hook.kinds, ['host.state']);
    const row = await c.db.selectFrom('hooks').selectAll().where('id', '=', hook.id).executeTakeFirstOrThrow();
    assert.ok(!row.secret_sealed.includes(secret), 'stored sealed');
    for (const url of ['/api/v1/hooks', `/api/v1/hooks/${hook.id}`, '/api/v1/hooks/dns', '/api/v1/events?kind=hook.'])
      assert.ok(!(await call('GET', url, c.bearer.admin)).body.includes(secret), `${url} never shows the secret`);
    const dup = await call('POST', '/api/v1/hooks', c.bearer.admin, { name: 'dns', url: 'http://x/', kinds: ['*'] });
    assert.equal(dup.json<{ error: { code: string } }>().error.code, 'conflict');
  });

  it('refuses URLs the egress rule refuses, naming the field', async () => {
    for (const url of ['ftp://x/', 'http://user:pw@x/', 'not a url', 'file:///etc/passwd']) {
      const res = await call('POST', '/api/v1/hooks', c.bearer.admin, { name: 'bad', url, kinds: ['*'] });
      assert.equal(res.statusCode, 400, url);
      const e = res.json<{ error: { code: string; issues: Array<{ path: string; code: string }> } }>().error;
      assert.deepEqual([e.code, e.issues[0].path, e.issues[0].code], ['validation_failed', '/url', 'url_refused']);
    }
  });

  it('is admin only', async () => {
    for (const role of ['viewer', 'labeler', 'operator'] as const) {
      const res = await call('GET', '/api/v1/hooks', c.bearer[role]);
      assert.equal(res.statusCode, 403, role);
    }
  });

  it('pauses, lists deliveries, and deletes a hook', async () => {
    const p = await call('PATCH', '/api/v1/hooks/dns', c.bearer.admin, { enabled: false });
    assert.equal(p.json<{ enabled: boolean }>().enabled, false);
    const d = await call('GET', '/api/v1/hooks/dns/deliveries?status=dead', c.bearer.admin);
    assert.deepEqual(d.json(), { items: [] });
    assert.equal((await call('DELETE', '/api/v1/hooks/dns', c.bearer.admin)).statusCode, 204);
    assert.equal((await call('GET', '/api/v1/hooks/dns', c.bearer.admin)).statusCode, 404);
  });

  it('a labeler token sets and removes one label of a host, leaving the others', async () => {
    await call('POST', '/api/v1/hosts', c.bearer.operator, { name: 'lab-1', labels: { rack: 'r1' } });
    const set = await call('PUT', '/api/v1/hosts/lab-1/labels/dns.record', c.bearer.labeler, {
      value: 'lab-1.example',
    });
    assert.equal(set.statusCode, 200, set.body);
    assert.deepEqual(set.json<{ labels: object }>().labels, { rack: 'r1', 'dns.record': 'lab-1.example' });
    const del = await call('DELETE', '/api/v1/hosts/lab-1/labels/rack', c.bearer.labeler);
    assert.deepEqual(del.json<{ labels: object }>().labels, { 'dns.record': 'lab-1.example' });
    assert.equal((await call('PUT', '/api/v1/hosts/lab-1/labels/x', c.bearer.viewer, { value: 'y' })).statusCode, 403);
    // A labeler is otherwise a viewer: no edits, no state moves.
    assert.equal((await call('PATCH', '/api/v1/hosts/lab-1', c.bearer.labeler, { tags: ['x'] })).statusCode, 403);
    assert.equal(
      (await call('POST', '/api/v1/hosts/lab-1/state', c.bearer.labeler, { state: 'ready' })).statusCode,
      403,
    );
    const bad = await call('PUT', '/api/v1/hosts/lab-1/labels/bad%20key', c.bearer.labeler, { value: 'y' });
    assert.equal(bad.statusCode, 400);
  });
});

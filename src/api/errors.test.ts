import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import fc from 'fast-check';
import { createTestController, type TestController } from '../../test/support/controller.js';

describe('bad input gets a clear error with a stable code', () => {
  let c: TestController;
  before(async () => {
    c = await createTestController({ bodyLimit: 4096 });
  });
  after(async () => c.close());

  const post = (url: string, payload: string | object, auth = c.bearer.operator) =>
    c.app.inject({
      method: 'POST',
      url,
      headers: { authorization: auth, 'content-type': 'application/json' },
      payload: typeof payload === 'string' ? payload : JSON.stringify(payload),
    });

  it('malformed JSON → 400 bad_request with an id', async () => {
    const res = await post('/api/v1/hosts', '{"name": "a",');
    assert.equal(res.statusCode, 400);
    const e = res.json().error;
    assert.equal(e.code, 'bad_request');
    assert.match(e.id, /^[0-9a-f-]{36}$/);
  });

  it('unknown and missing fields → 400 validation_failed listing each issue', async () => {
    const res = await post('/api/v1/hosts', { nme: 'x', tags: 'notalist' });
    assert.equal(res.statusCode, 400);
    const e = res.json().error;
    assert.equal(e.code, 'validation_failed');
    const byCode = new Map(e.issues.map((i: { code: string; path: string }) => [i.code, i.path]));
    assert.equal(byCode.get('unknown_field'), 'body/nme');
    assert.equal(byCode.get('required'), 'body/name');
    assert.ok(e.issues.some((i: { path: string }) => i.path === 'body/tags'));
  });

  it('bad MAC → 400 naming the field', async () => {
    const res = await post('/api/v1/hosts', { name: 'm1', nics: [{ mac: 'zz:zz' }] });
    assert.equal(res.statusCode, 400);
    assert.equal(res.json().error.issues[0].path, '/nics/0/mac');
  });

  it('duplicate name and duplicate MAC → 409 conflict', async () => {
    assert.equal((await post('/api/v1/hosts', { name: 'dup', nics: [{ mac: '52:54:00:00:00:01' }] })).statusCode, 201);
    const byName = await post('/api/v1/hosts', { name: 'dup' });
    assert.equal(byName.statusCode, 409);
    assert.equal(byName.json().error.code, 'conflict');
    const byMac = await post('/api/v1/hosts', { name: 'dup2', nics: [{ mac: '52-54-00-00-00-01' }] });
    assert.equal(byMac.statusCode, 409);
    assert.match(byMac.json().error.message, /52:54:00:00:00:01 already belongs to host dup/);
  });

  it('illegal state transition → 409 illegal_transition listing the legal ones', async () => {
    const res = await post('/api/v1/hosts/dup/state', { state: 'deployed' });
    assert.equal(res.statusCode, 409);
    const e = res.json().error;
    assert.equal(e.code, 'illegal_transition');
    assert.deepEqual(e.details.allowed, ['discovering', 'ready', 'failed', 'retired']);
  });

  it('label keys that fail the key pattern, and non-string values, are refused on create and edit; nothing is stored', async () => {
    const keyPattern = /^[A-Za-z0-9_.\-/]{1,63}$/;
    let n = 0;
    await fc.assert(
      fc.asyncProperty(
        fc.string({ maxLength: 80 }).filter((k) => !keyPattern.test(k) && k !== '__proto__'),
        fc.oneof(fc.string({ maxLength: 10 }), fc.constant({ nested: { deep: 1 } }), fc.integer()),
        async (key, value) => {
          const name = `lbl-${n++}`;
          const res = await post('/api/v1/hosts', { name, labels: { [key]: value, ok: 'yes' } });
          assert.equal(res.statusCode, 400, `key ${JSON.stringify(key)}`);
          assert.equal(res.json().error.code, 'validation_failed');
          assert.ok(
            res.json().error.issues.some((i: { code: string }) => i.code === 'bad_key'),
            JSON.stringify(res.json().error.issues),
          );
          const got = await c.app.inject({ url: `/api/v1/hosts/${name}`, headers: { authorization: c.bearer.viewer } });
          assert.equal(got.statusCode, 404, 'nothing stored');
        },
      ),
      { numRuns: 40 },
    );
    assert.equal(
      (
        await post('/api/v1/hosts', {
          name: 'lbl-ok',
          labels: { 'var.disk': 'sda', 'dhcp.ip': '10.0.0.5', 'a/b_c-d': 'x' },
        })
      ).statusCode,
      201,
    );
    const nested = await c.app.inject({
      method: 'PATCH',
      url: '/api/v1/hosts/lbl-ok',
      headers: { authorization: c.bearer.operator },
      payload: { labels: { rack: { row: 4 } } },
    });
    assert.equal(nested.statusCode, 400, 'a nested object is not a label value');
    const badKey = await c.app.inject({
      method: 'PATCH',
      url: '/api/v1/hosts/lbl-ok',
      headers: { authorization: c.bearer.operator },
      payload: { labels: { 'two words': 'x' } },
    });
    assert.equal(badKey.statusCode, 400);
    assert.equal(badKey.json().error.issues[0].path, 'body/labels/two words');
    const kept = await c.app.inject({ url: '/api/v1/hosts/lbl-ok', headers: { authorization: c.bearer.viewer } });
    assert.deepEqual(kept.json().labels, { 'var.disk': 'sda', 'dhcp.ip': '10.0.0.5', 'a/b_c-d': 'x' });
  });

  it('stale If-Match → 412 precondition_failed', async () => {
    const res = await c.app.inject({
      method: 'PATCH',
      url: '/api/v1/hosts/dup',
      headers: { authorization: c.bearer.operator, 'if-match': '"99"' },
      payload: { tags: ['x'] },
    });
    assert.equal(res.statusCode, 412);
    assert.equal(res.json().error.code, 'precondition_failed');
  });

  it('unknown host → 404 not_found; unknown route → 404 route_not_found', async () => {
    const a = await c.app.inject({ url: '/api/v1/hosts/nope', headers: { authorization: c.bearer.viewer } });
    assert.equal(a.statusCode, 404);
    assert.equal(a.json().error.code, 'not_found');
    const b = await c.app.inject({ url: '/api/v1/nowhere', headers: { authorization: c.bearer.viewer } });
    assert.equal(b.statusCode, 404);
    assert.equal(b.json().error.code, 'route_not_found');
  });

  it('too large a body → 413; wrong content type → 415 unsupported_media_type', async () => {
    const big = await post('/api/v1/hosts', { name: 'big', labels: { a: 'x'.repeat(5000) } });
    assert.equal(big.statusCode, 413);
    assert.equal(big.json().error.code, 'payload_too_large');
    const txt = await c.app.inject({
      method: 'POST',
      url: '/api/v1/hosts',
      headers: { authorization: c.bearer.operator, 'content-type': 'application/xml' },
      payload: '<host/>',
    });
    assert.equal(txt.statusCode, 415);
    assert.equal(txt.json().error.code, 'unsupported_media_type');
  });

  it('edits keep the BMC password write-only and record who did it', async () => {
    const res = await post('/api/v1/hosts', {
      name: 'b1',
      bmc: { driver: 'ipmi', address: '127.0.0.1', username: 'u', password: 'pa55-w0rd-x' },
      reason: 'rack 4',
    });
    assert.equal(res.statusCode, 201);
    assert.ok(!res.body.includes('pa55-w0rd-x'));
    assert.equal(res.json().bmc.hasPassword, true);
    assert.equal(res.headers.etag, '"1"');
    const ev = await c.app.inject({ url: '/api/v1/hosts/b1/events', headers: { authorization: c.bearer.viewer } });
    assert.ok(!ev.body.includes('pa55-w0rd-x'));
    const first = ev.json().items[0];
    assert.equal(first.actor, 'token:t-operator');
    assert.equal(first.reason, 'rack 4');
  });

  it('the OpenAPI document lists the host routes', async () => {
    const res = await c.app.inject({ url: '/api/v1/openapi.json', headers: { authorization: c.bearer.viewer } });
    assert.equal(res.statusCode, 200);
    const doc = res.json();
    assert.equal(doc.openapi.startsWith('3.'), true);
    assert.ok(doc.paths['/api/v1/hosts'].get && doc.paths['/api/v1/hosts'].post);
    assert.ok(doc.paths['/api/v1/hosts/{host}/state'].post);
  });

  it('filters list by state, tag, label, MAC and name prefix', async () => {
    await post('/api/v1/hosts', {
      name: 'f-1',
      tags: ['gpu'],
      labels: { rack: 'r7' },
      nics: [{ mac: '52:54:00:00:0f:01' }],
    });
    await post('/api/v1/hosts', { name: 'f-2', state: 'ready' });
    const get = async (qs: string) =>
      (await c.app.inject({ url: `/api/v1/hosts?${qs}`, headers: { authorization: c.bearer.viewer } }))
        .json()
        .items.map((h: { name: string }) => h.name);
    assert.deepEqual(await get('tag=gpu'), ['f-1']);
    assert.deepEqual(await get('state=ready'), ['f-2']);
    assert.deepEqual(await get('mac=52-54-00-00-0F-01'), ['f-1']);
    assert.deepEqual(await get('prefix=f-'), ['f-1', 'f-2']);
    assert.deepEqual(await get('label=rack%3Dr7'), ['f-1']);
    const page = (
      await c.app.inject({ url: '/api/v1/hosts?prefix=f-&limit=1', headers: { authorization: c.bearer.viewer } })
    ).json();
    assert.match(page.next, /^K1/, 'next is an opaque cursor');
    assert.deepEqual(await get(`prefix=f-&after=${page.next}`), ['f-2']);
    assert.deepEqual(await get('prefix=f-&after=f-1'), ['f-2'], 'a host name still works as after');
    for (const qs of ['name_prefix=f-', 'label=rack', 'after=K1%25%25']) {
      const r = await c.app.inject({ url: `/api/v1/hosts?${qs}`, headers: { authorization: c.bearer.viewer } });
      assert.equal(r.statusCode, 400, qs);
    }
    const bad = await c.app.inject({ url: '/api/v1/hosts?state=flying', headers: { authorization: c.bearer.viewer } });
    assert.equal(bad.statusCode, 400);
  });
});

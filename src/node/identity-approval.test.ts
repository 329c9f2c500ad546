import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { after, before, describe, it } from 'node:test';
import { createTestController, type TestController } from '../../test/support/controller.js';
import { hashSecret } from '../trust/credential/node-credential.js';
import { identityCode } from './node-service.js';

// A stateless host whose identity partition is missing or wiped presents no
// credential. It gets a new one only after an operator approves its request
// (kiln host approve), and only the node holding that request's secret can
// claim it: the MAC alone earns nothing.
describe('identity requests wait for approval', () => {
  let c: TestController;
  before(async () => {
    c = await createTestController();
  });
  after(async () => c.close());

  const mac = '52:54:00:1d:00:01';
  const secret = () => `kr_${randomBytes(32).toString('hex')}`;
  const post = (url: string, payload: unknown, over: { ip?: string; auth?: string } = {}) =>
    c.app.inject({
      method: 'POST',
      url,
      payload: payload as Record<string, unknown>,
      remoteAddress: over.ip ?? '10.43.0.10',
      headers: over.auth ? { authorization: over.auth } : {},
    });
  const events = (kind: string) => c.db.selectFrom('events').selectAll().where('kind', '=', kind).execute();

  it('pending until approved, then the credential goes once to the requesting node only', async () => {
    // The host enrolled once (discovery), then lost its identity.
    const first = await post('/api/v1/node/discover', {
      facts: { bootMac: mac, firmware: 'bios', nics: [{ name: 'eth0', mac }] },
    });
    assert.equal(first.statusCode, 200, first.body);
    const old = first.json().credential as string;

    const unknown = await post('/api/v1/node/identity/request', { mac: '52:54:00:1d:00:99', request: secret() });
    assert.equal(unknown.statusCode, 403);
    assert.equal(unknown.json().error.code, 'enrolment_closed');

    const req = secret();
    const asked = await post('/api/v1/node/identity/request', { mac, request: req });
    assert.equal(asked.statusCode, 200, asked.body);
    const code = identityCode(hashSecret(req));
    assert.match(code, /^[0-9A-F]{4}-[0-9A-F]{4}$/);
    assert.deepEqual(asked.json(), { status: 'pending', hostId: first.json().hostId, name: first.json().name, code });
    const pending = await events('node.identity_pending');
    assert.equal(pending.length, 1);
    assert.match(pending[0].message, new RegExp(`waiting for approval.*kiln host approve \\S+ --code ${code}`));

    // The MAC alone earns nothing: enrolment is closed, a claim with another secret is refused.
    const enrol = await post('/api/v1/node/enrol', { mac });
    assert.equal(enrol.statusCode, 403);
    const waiting = await post('/api/v1/node/identity/claim', { mac, request: req });
    assert.equal(waiting.statusCode, 200);
    assert.equal(waiting.json().status, 'pending');
    assert.equal(waiting.json().credential, undefined, 'no credential before approval');
    const thief = await post('/api/v1/node/identity/claim', { mac, request: secret() });
    assert.equal(thief.statusCode, 403);

    // Approval: a wrong code is refused; the right one approves.
    const host = first.json().name as string;
    const wrong = await post(`/api/v1/hosts/${host}/approve`, { code: '0000-0000' }, { auth: c.bearer.operator });
    assert.equal(wrong.statusCode, 409, wrong.body);
    assert.match(wrong.json().error.message, new RegExp(`has code ${code}, not 0000-0000`));
    const viewer = await post(`/api/v1/hosts/${host}/approve`, {}, { auth: c.bearer.viewer });
    assert.equal(viewer.statusCode, 403);
    const ok = await post(`/api/v1/hosts/${host}/approve`, { code: code.toLowerCase() }, { auth: c.bearer.operator });
    assert.equal(ok.statusCode, 200, ok.body);
    assert.deepEqual(ok.json(), { ok: true, code, ip: '10.43.0.10' });
    assert.equal((await events('node.identity_approved')).length, 1);

    // Only from the address that asked, and only with the request's secret.
    const elsewhere = await post('/api/v1/node/identity/claim', { mac, request: req }, { ip: '10.43.0.11' });
    assert.equal(elsewhere.statusCode, 403);
    const claimed = await post('/api/v1/node/identity/claim', { mac, request: req });
    assert.equal(claimed.statusCode, 200, claimed.body);
    assert.equal(claimed.json().status, 'approved');
    const cred = claimed.json().credential as string;
    assert.match(cred, /^kn_/);
    const next = await c.app.inject({
      method: 'GET',
      url: '/api/v1/node/next',
      remoteAddress: '10.43.0.10',
      headers: { authorization: `Bearer ${cred}` },
    });
    assert.equal(next.statusCode, 200, next.body);
    const stale = await c.app.inject({
      method: 'GET',
      url: '/api/v1/node/next',
      remoteAddress: '10.43.0.10',
      headers: { authorization: `Bearer ${old}` },
    });
    assert.equal(stale.statusCode, 401, 'the credential from before is replaced');

    // Claimed once: a second claim, a replay of the request and a second approval are refused.
    assert.equal((await post('/api/v1/node/identity/claim', { mac, request: req })).statusCode, 403);
    assert.equal((await post('/api/v1/node/identity/request', { mac, request: req })).statusCode, 403);
    const again = await post(`/api/v1/hosts/${host}/approve`, {}, { auth: c.bearer.operator });
    assert.equal(again.statusCode, 409);
    assert.match(again.json().error.message, /no identity request waiting for approval/);
  });

  it('a newer request replaces a pending one; approval binds to the newest', async () => {
    const m = '52:54:00:1d:00:02';
    const d = await post('/api/v1/node/discover', { facts: { bootMac: m, nics: [{ name: 'eth0', mac: m }] } });
    assert.equal(d.statusCode, 200, d.body);
    const a = secret();
    const b = secret();
    assert.equal((await post('/api/v1/node/identity/request', { mac: m, request: a })).statusCode, 200);
    assert.equal((await post('/api/v1/node/identity/request', { mac: m, request: b })).statusCode, 200);
    const codeA = identityCode(hashSecret(a));
    const refused = await post(`/api/v1/hosts/${d.json().name}/approve`, { code: codeA }, { auth: c.bearer.operator });
    assert.equal(refused.statusCode, 409, 'the replaced request cannot be approved');
    assert.equal((await post('/api/v1/node/identity/claim', { mac: m, request: a })).statusCode, 403);
  });
});

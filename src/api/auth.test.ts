import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { createTestController, type TestController } from '../../test/support/controller.js';
import { roles } from './role.js';

// Walks the whole route table, so a new route cannot forget authentication.
describe('every route is authenticated', () => {
  let c: TestController;
  before(async () => {
    c = await createTestController();
  });
  after(async () => c.close());

  const concrete = (url: string) => url.replace(/:[A-Za-z]+/g, 'x');

  it('has routes to check', () => {
    assert.ok(c.app.kilnRoutes.length >= 10, `only ${c.app.kilnRoutes.length} routes`);
    // The only routes without a credential: health, login, the two enrolment
    // calls (they issue credentials and are rate-limited and recorded), the
    // KRL (revoked serials only), what firmware fetches (iPXE scripts and
    // boot files, which hold no secret), and the installers' install files,
    // whose URL token in the path is checked by the route (install-token.ts).
    // A new public route must be added here on purpose.
    assert.deepEqual(
      c.app.kilnRoutes
        .filter((r) => r.access === 'public')
        .map((r) => r.url)
        .sort(),
      [
        '/api/v1/health',
        '/api/v1/login',
        '/api/v1/node/discover',
        '/api/v1/node/enrol',
        // a node without an identity asks and polls with its own request secret; nothing is issued until approved
        '/api/v1/node/identity/claim',
        '/api/v1/node/identity/request',
        '/api/v1/node/install/:token/:name',
        '/api/v1/ssh/revoked-keys',
        '/boot.ipxe',
        '/boot/host.ipxe',
        '/boot/kiln/:arch/:file',
        '/boot/profiles/:profile/*',
        // the web UI's login form (GET and POST) and its script and style sheet
        '/ui/login',
        '/ui/login',
        '/ui/static/:file',
      ],
    );
  });

  it('answers 401 without a credential on every non-public route', async () => {
    for (const r of c.app.kilnRoutes.filter((x) => x.access !== 'public')) {
      const res = await c.app.inject({
        method: r.method as 'GET',
        url: concrete(r.url),
        payload: ['GET', 'DELETE'].includes(r.method) ? undefined : {},
      });
      assert.equal(res.statusCode, 401, `${r.method} ${r.url} answered ${res.statusCode}`);
      assert.match(res.json().error.code, /^(unauthenticated|credential_invalid)$/);
    }
  });

  it('answers 401 with an unknown token', async () => {
    const res = await c.app.inject({
      method: 'GET',
      url: '/api/v1/hosts',
      headers: { authorization: 'Bearer kt_not-a-real-token' },
    });
    assert.equal(res.statusCode, 401);
    assert.equal(res.json().error.code, 'unauthenticated');
  });

  it('answers 403 with a token whose role is too weak', async () => {
    let checked = 0;
    for (const r of c.app.kilnRoutes) {
      if (r.access === 'public' || r.access === 'node' || r.access === 'member') continue;
      for (const weaker of roles.slice(0, roles.indexOf(r.access))) {
        const res = await c.app.inject({
          method: r.method as 'GET',
          url: concrete(r.url),
          headers: { authorization: c.bearer[weaker] },
          payload: ['GET', 'DELETE'].includes(r.method) ? undefined : {},
        });
        assert.equal(res.statusCode, 403, `${r.method} ${r.url} with ${weaker} answered ${res.statusCode}`);
        assert.equal(res.json().error.code, 'forbidden');
        checked++;
      }
    }
    assert.ok(checked >= 8, `only ${checked} weak-role checks`);
  });

  it('lets a strong enough role through (not 401/403)', async () => {
    for (const r of c.app.kilnRoutes.filter((x) => x.access === 'viewer' && x.method === 'GET')) {
      const res = await c.app.inject({
        method: 'GET',
        url: concrete(r.url),
        headers: { authorization: c.bearer.viewer },
      });
      assert.ok(![401, 403].includes(res.statusCode), `${r.url} answered ${res.statusCode}`);
    }
  });

  it('refuses a revoked token', async () => {
    const { token, record } = await c.tokens.create({ name: 'short-lived', role: 'viewer' }, 'test');
    assert.equal(
      (await c.app.inject({ url: '/api/v1/hosts', headers: { authorization: `Bearer ${token}` } })).statusCode,
      200,
    );
    await c.tokens.revoke(record.id, 'test');
    const res = await c.app.inject({ url: '/api/v1/hosts', headers: { authorization: `Bearer ${token}` } });
    assert.equal(res.statusCode, 401);
    assert.match(res.json().error.message, /revoked/);
  });

  it('health needs no token', async () => {
    const res = await c.app.inject({ url: '/api/v1/health' });
    assert.equal(res.statusCode, 200);
    assert.deepEqual(res.json(), { status: 'ok' });
  });
});

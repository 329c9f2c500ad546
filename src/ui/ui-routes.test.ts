import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { createTestController, type TestController } from '../../test/support/controller.js';
import { roleAllows } from '../api/role.js';
import { csrfToken } from './session.js';
import { actionRoles } from './ui-request.js';
import { contentSecurityPolicy } from './ui-routes.js';

const password = 'correct horse battery staple';

describe('web UI routes', () => {
  let c: TestController;
  const cookie: Record<string, string> = {};
  const secret: Record<string, string> = {};
  const html = { accept: 'text/html' };

  const login = async (name: string, pw = password) =>
    c.app.inject({
      method: 'POST',
      url: '/ui/login',
      headers: { ...html, 'content-type': 'application/x-www-form-urlencoded' },
      payload: new URLSearchParams({ name, password: pw, next: '/ui/hosts' }).toString(),
    });
  const get = (url: string, who: string) => c.app.inject({ url, headers: { ...html, cookie: cookie[who] } });
  const post = (url: string, who: string, form: Record<string, string>, csrf: string | null = csrfToken(secret[who])) =>
    c.app.inject({
      method: 'POST',
      url,
      headers: { ...html, cookie: cookie[who], 'content-type': 'application/x-www-form-urlencoded' },
      payload: new URLSearchParams({ ...form, ...(csrf !== null ? { _csrf: csrf } : {}) }).toString(),
    });
  const state = async (name: string) =>
    (await c.app.inject({ url: `/api/v1/hosts/${name}`, headers: { authorization: c.bearer.viewer } })).json().state;

  before(async () => {
    c = await createTestController();
    for (const role of ['viewer', 'operator'] as const) {
      await c.users.create({ name: role, role, password }, 'test');
      const res = await login(role);
      assert.equal(res.statusCode, 303, res.body);
      assert.equal(res.headers.location, '/ui/hosts');
      const set = String(res.headers['set-cookie']);
      secret[role] = /^kiln_session=([^;]+)/.exec(set)![1];
      cookie[role] = `kiln_session=${secret[role]}`;
    }
    const add = await c.app.inject({
      method: 'POST',
      url: '/api/v1/hosts',
      headers: { authorization: c.bearer.operator },
      payload: {
        name: 'web-1',
        state: 'ready',
        profile: 'kiln-image',
        nics: [{ mac: '52:54:00:00:00:01', boot: true }],
        labels: { note: '<script>alert(1)</script>' },
      },
    });
    assert.equal(add.statusCode, 201, add.body);
  });
  after(async () => c.close());

  it('sends a browser without a session to the login page, an API client a 401', async () => {
    const res = await c.app.inject({ url: '/ui/hosts?state=ready', headers: html });
    assert.equal(res.statusCode, 303);
    assert.equal(res.headers.location, '/ui/login?next=%2Fui%2Fhosts%3Fstate%3Dready');
    const api = await c.app.inject({ url: '/' });
    assert.equal(api.statusCode, 401);
    assert.equal(api.json().error.code, 'unauthenticated');
  });

  it('login: a wrong password is refused, a session cookie is HttpOnly and SameSite=Strict and stored only hashed', async () => {
    const bad = await login('viewer', 'not the password at all');
    assert.equal(bad.statusCode, 401);
    assert.equal(bad.headers['set-cookie'], undefined);
    assert.match(bad.body, /wrong user name or password/);
    const ok = await login('viewer');
    assert.match(
      String(ok.headers['set-cookie']),
      /^kiln_session=kt_[^;]+; Max-Age=4(3199|3200); Path=\/; HttpOnly; SameSite=Strict$/,
    );
    const rows = await c.db.selectFrom('api_tokens').selectAll().execute();
    assert.ok(rows.length > 0);
    assert.ok(!JSON.stringify(rows).includes(secret.viewer), 'the session secret is not stored');
  });

  it('every page is HTML with a strict CSP, and escapes what hosts report', async () => {
    for (const url of [
      '/',
      '/ui/hosts',
      '/ui/hosts/web-1',
      '/ui/events',
      '/ui/leases',
      '/ui/profiles',
      '/ui/network',
    ]) {
      const res = await get(url, 'viewer');
      assert.equal(res.statusCode, 200, `${url}: ${res.body.slice(0, 300)}`);
      assert.match(String(res.headers['content-type']), /^text\/html/);
      assert.equal(res.headers['content-security-policy'], contentSecurityPolicy);
      assert.match(contentSecurityPolicy, /script-src 'self';/);
      assert.doesNotMatch(res.body, /<script>|\son[a-z]+="|\sstyle="/, `${url} has inline script or style`);
    }
    const host = await get('/ui/hosts/web-1', 'viewer');
    assert.match(host.body, /note=&lt;script&gt;alert\(1\)&lt;\/script&gt;/);
    const list = await get('/ui/hosts?prefix=web-', 'viewer');
    assert.match(list.body, /<a href="\/ui\/hosts\/web-1">\s*web-1\s*<\/a\s*>/);
    assert.match((await get('/ui/hosts?prefix=zzz', 'viewer')).body, /0 hosts on this page/);
  });

  it('a viewer sees no action buttons; an operator sees deploy and the CSRF token', async () => {
    const viewer = (await get('/ui/hosts/web-1', 'viewer')).body;
    assert.doesNotMatch(viewer, /data-action=|action="\/ui\/hosts\//);
    const operator = (await get('/ui/hosts/web-1', 'operator')).body;
    assert.match(operator, /data-action="deploy"/);
    assert.ok(operator.includes(`name="_csrf" value="${csrfToken(secret.operator)}"`));
  });

  it('a POST without the CSRF token, or with another session’s, is refused and changes nothing', async () => {
    const none = await post('/ui/hosts/web-1/deploy', 'operator', { profile: 'kiln-image' }, null);
    assert.equal(none.statusCode, 403);
    assert.match(none.body, /csrf_failed/);
    const other = await post('/ui/hosts/web-1/deploy', 'operator', { profile: 'kiln-image' }, csrfToken(secret.viewer));
    assert.equal(other.statusCode, 403);
    const json = await c.app.inject({
      method: 'POST',
      url: '/ui/hosts/web-1/deploy',
      headers: { cookie: cookie.operator },
      payload: { profile: 'kiln-image' },
    });
    assert.equal(json.json().error.code, 'csrf_failed');
    assert.equal(await state('web-1'), 'ready');
  });

  it("a viewer's forged POST with a valid CSRF token is refused by the API under the viewer's role", async () => {
    const res = await post('/ui/hosts/web-1/deploy', 'viewer', { profile: 'kiln-image', variables: 'imageName=x' });
    assert.equal(res.statusCode, 403);
    assert.match(res.body, /forbidden: this call needs the operator role/);
    assert.equal((await post('/ui/hosts/web-1/power', 'viewer', { action: 'on' })).statusCode, 403);
    assert.equal(await state('web-1'), 'ready');
  });

  it('an operator deploys through the form: the API call is made as the user, then back to the host page', async () => {
    const res = await post('/ui/hosts/web-1/deploy', 'operator', {
      profile: 'kiln-image',
      variables: 'imageName=busybox',
    });
    assert.equal(res.statusCode, 303, res.body);
    assert.equal(res.headers.location, '/ui/hosts/web-1?done=deploy');
    assert.equal(await state('web-1'), 'deploying');
    const events = (
      await c.app.inject({
        url: '/api/v1/events?kind=host.state&order=desc&limit=1',
        headers: { authorization: c.bearer.viewer },
      })
    ).json().items;
    assert.equal(events[0].actor, 'user:operator');
    const page = (await get('/ui/hosts/web-1?done=deploy', 'operator')).body;
    assert.match(page, /data-state="deploying"/);
  });

  it('profiles: validation for every role; a rendered preview only for a role that may deploy', async () => {
    const valid = await post('/ui/profiles/validate', 'viewer', {});
    assert.equal(valid.statusCode, 200);
    assert.match(valid.body, /debian-12:\s+valid/);
    assert.doesNotMatch((await get('/ui/profiles', 'viewer')).body, /action="\/ui\/profiles\/preview"/);
    assert.equal(
      (await post('/ui/profiles/preview', 'viewer', { host: 'web-1', profile: 'debian-12' })).statusCode,
      403,
    );
    const preview = await post('/ui/profiles/preview', 'operator', { host: 'web-1', profile: 'debian-12' });
    assert.equal(preview.statusCode, 200, preview.body.slice(0, 500));
    assert.match(preview.body, /<pre class="file"[^>]*>[\s\S]*d-i /);
  });

  it('the action role table matches the API routes it calls', () => {
    const need = (method: string, url: string) =>
      c.app.kilnRoutes.find((r) => r.method === method && r.url === url)!.access;
    assert.equal(actionRoles.deploy, need('POST', '/api/v1/hosts/:host/deploy'));
    assert.equal(actionRoles.release, need('POST', '/api/v1/hosts/:host/release'));
    assert.equal(actionRoles.power, need('POST', '/api/v1/hosts/:host/power'));
    assert.equal(actionRoles.preview, need('POST', '/api/v1/hosts/:host/deploy'));
    assert.ok(!roleAllows('viewer', actionRoles.deploy));
  });

  it('logout ends the session: the cookie stops working', async () => {
    const s = await login('viewer');
    const sec = /^kiln_session=([^;]+)/.exec(String(s.headers['set-cookie']))![1];
    cookie.temp = `kiln_session=${sec}`;
    secret.temp = sec;
    assert.equal((await post('/ui/logout', 'temp', {}, null)).statusCode, 403, 'logout needs the CSRF token too');
    const out = await post('/ui/logout', 'temp', {});
    assert.equal(out.statusCode, 303);
    assert.match(String(out.headers['set-cookie']), /^kiln_session=; Max-Age=0/);
    assert.equal((await get('/', 'temp')).statusCode, 303);
    const ev = (
      await c.app.inject({ url: '/api/v1/events?kind=user.logout', headers: { authorization: c.bearer.viewer } })
    ).json().items;
    assert.equal(ev.length, 1);
    const apiToken = await c.app.inject({
      method: 'POST',
      url: '/api/v1/logout',
      headers: { authorization: c.bearer.viewer },
      payload: {},
    });
    assert.equal(apiToken.statusCode, 400, 'an API token is not a session: revoke it instead');
  });
});

import assert from 'node:assert/strict';
import { test } from 'node:test';
import { pino } from 'pino';
import { createTestController } from '../../test/support/controller.js';
import { createSqlLeaseStore } from '../boot/dhcp/sql-lease-store.js';
import { INSTALL_TOKEN_PLACEHOLDER } from './install-token.js';

const T0 = Date.parse('2026-12-06T00:00:00Z');
const macA = '52:54:00:77:00:01';
const macB = '52:54:00:77:00:02';

test('install-file URL token: only its host, only from its lease address, only while its deployment runs, never stored or shown', async () => {
  let t = T0;
  const c = await createTestController({ now: () => new Date(t), installTokenTtlMs: 3600_000 });
  try {
    const op = { authorization: c.bearer.operator };
    for (const [name, mac] of [
      ['tok-a', macA],
      ['tok-b', macB],
    ] as const) {
      assert.equal(
        (
          await c.app.inject({
            method: 'POST',
            url: '/api/v1/hosts',
            headers: op,
            payload: { name, state: 'ready', nics: [{ mac }] },
          })
        ).statusCode,
        201,
      );
    }
    const deploy = async (name: string) =>
      assert.equal(
        (
          await c.app.inject({
            method: 'POST',
            url: `/api/v1/hosts/${name}/deploy`,
            headers: op,
            payload: { profile: 'debian-12' },
          })
        ).statusCode,
        200,
      );
    const tokenFromScript = async (mac: string) => {
      const script = (await c.app.inject({ url: `/boot/host.ipxe?mac=${mac}&platform=efi&arch=x86_64` })).body;
      const m = /preseed\/url=http:\/\/192\.0\.2\.1:8080\/api\/v1\/node\/install\/([^/\s]+)\/preseed\.cfg/.exec(script);
      assert.ok(m, `the boot script carries the install URL:\n${script}`);
      return m[1];
    };
    const fetchFile = (token: string, ip: string, name = 'preseed.cfg') =>
      c.app.inject({ url: `/api/v1/node/install/${token}/${name}`, remoteAddress: ip });
    const refused = async (token: string, ip: string, why: string) => {
      const res = await fetchFile(token, ip);
      assert.equal(res.statusCode, 403, why);
      assert.equal(res.json().error.code, 'install_token_invalid', why);
      assert.ok(!res.body.includes('d-i '), `${why}: no file content`);
    };

    await deploy('tok-a');
    await deploy('tok-b');
    const tokA = await tokenFromScript(macA);
    const tokB = await tokenFromScript(macB);
    assert.match(tokA, /^kit_[A-Za-z0-9_-]{43}$/, 'random-looking, 256 bits');
    assert.notEqual(tokA, tokB);

    // No lease held by Kiln for A yet: the token alone opens A's files, and the served file carries the token (late_command).
    const a = await fetchFile(tokA, '198.51.100.7');
    assert.equal(a.statusCode, 200);
    assert.match(a.body, /netcfg\/get_hostname string tok-a|tok-a/);
    assert.ok(a.body.includes(`/api/v1/node/install/${tokA}/kiln-late.sh`), 'late_command fetches with the same token');
    assert.ok(!a.body.includes(INSTALL_TOKEN_PLACEHOLDER));
    assert.equal((await fetchFile(tokA, '198.51.100.7', 'kiln-late.sh')).statusCode, 200);
    assert.ok(!(await fetchFile(tokB, '198.51.100.7')).body.includes('tok-a'), "B's token gives B's files only");

    // Wrong tokens of every shape: refused with the same code, nothing recorded for unknown ones.
    for (const bad of ['kit_' + 'A'.repeat(43), INSTALL_TOKEN_PLACEHOLDER, tokA.slice(0, -1), 'x'])
      await refused(bad, '198.51.100.7', `token ${bad}`);

    // Stored deployment, deployment list and the viewer's file view hold the placeholder, never the token.
    const stored = await c.db.selectFrom('deployments').select(['files', 'boot_spec']).execute();
    assert.ok(!JSON.stringify(stored).includes(tokA) && !JSON.stringify(stored).includes(tokB));
    const tokenRows = await c.db.selectFrom('install_tokens').selectAll().execute();
    assert.ok(!JSON.stringify(tokenRows).includes(tokA), 'only the hash is stored');
    for (const url of [
      '/api/v1/hosts/tok-a/deployments',
      '/api/v1/hosts/tok-a/deployments/current/files/preseed.cfg',
    ]) {
      const res = await c.app.inject({ url, headers: { authorization: c.bearer.viewer } });
      assert.equal(res.statusCode, 200, url);
      assert.ok(!res.body.includes(tokA), `${url} does not show the token`);
    }

    // Kiln leased A 10.0.0.5 and B 10.0.0.6: A's token works from 10.0.0.5 only.
    await createSqlLeaseStore(c.db).putMany(
      [
        { ip: '10.0.0.5', mac: macA, subnet: '10.0.0.0/24', expiresAt: t + 3600_000, state: 'bound' },
        { ip: '10.0.0.6', mac: macB, subnet: '10.0.0.0/24', expiresAt: t + 3600_000, state: 'bound' },
      ],
      t,
    );
    assert.equal((await fetchFile(tokA, '10.0.0.5')).statusCode, 200);
    await refused(tokA, '10.0.0.6', "A's token from B's lease address");
    await refused(tokA, '198.51.100.7', "A's token from an address Kiln did not lease to A");
    assert.equal((await fetchFile(tokB, '10.0.0.6')).statusCode, 200);

    // The install failing ends the token; a redeploy gets a new one; cancelling the deploy ends that one.
    assert.equal(
      (
        await c.app.inject({
          method: 'POST',
          url: '/api/v1/hosts/tok-a/state',
          headers: op,
          payload: { state: 'failed', reason: 'disk' },
        })
      ).statusCode,
      200,
    );
    await refused(tokA, '10.0.0.5', 'failed host');
    t += 1000; // deployments are ordered by creation time
    await deploy('tok-a');
    const tokA2 = await tokenFromScript(macA);
    assert.notEqual(tokA2, tokA);
    await refused(tokA, '10.0.0.5', 'superseded deployment');
    assert.equal((await fetchFile(tokA2, '10.0.0.5')).statusCode, 200);
    assert.equal(
      (
        await c.app.inject({
          method: 'POST',
          url: '/api/v1/hosts/tok-a/state',
          headers: op,
          payload: { state: 'ready', reason: 'cancel' },
        })
      ).statusCode,
      200,
    );
    await refused(tokA2, '10.0.0.5', 'deploy cancelled (host back to ready)');

    // B's token expires after the TTL even though B is still deploying.
    t += 3600_000 + 1;
    await createSqlLeaseStore(c.db).putMany(
      [{ ip: '10.0.0.6', mac: macB, subnet: '10.0.0.0/24', expiresAt: t + 3600_000, state: 'bound' }],
      t,
    );
    await refused(tokB, '10.0.0.6', 'expired token');

    const events = (
      await c.app.inject({
        url: '/api/v1/events?kind=node.install_token_refused',
        headers: { authorization: c.bearer.viewer },
      })
    ).json().items as Array<{ subject: string }>;
    assert.deepEqual(
      events.map((e) => e.subject).sort(),
      ['tok-a', 'tok-a', 'tok-a', 'tok-a', 'tok-b'],
      'refusals of live tokens are events; unknown and superseded ones (deleted at redeploy) are not',
    );
  } finally {
    await c.close();
  }
});

test('the install token never reaches the request log', async () => {
  const lines: string[] = [];
  const httpLogger = pino(
    { level: 'debug' },
    {
      write: (s: string) => {
        lines.push(s);
      },
    },
  );
  const c = await createTestController({ httpLogger });
  try {
    const op = { authorization: c.bearer.operator };
    assert.equal(
      (
        await c.app.inject({
          method: 'POST',
          url: '/api/v1/hosts',
          headers: op,
          payload: { name: 'log-a', state: 'ready', nics: [{ mac: macA }] },
        })
      ).statusCode,
      201,
    );
    assert.equal(
      (
        await c.app.inject({
          method: 'POST',
          url: '/api/v1/hosts/log-a/deploy',
          headers: op,
          payload: { profile: 'debian-12' },
        })
      ).statusCode,
      200,
    );
    const deployment = await c.db.selectFrom('deployments').select('id').executeTakeFirstOrThrow();
    const token = c.installTokens.tokenFor(deployment.id);
    assert.equal((await c.app.inject({ url: `/api/v1/node/install/${token}/preseed.cfg` })).statusCode, 200);
    assert.equal((await c.app.inject({ url: `/api/v1/node/install/${token}/nope.cfg` })).statusCode, 404);
    assert.ok(
      lines.some((l) => l.includes('/api/v1/node/install/***/preseed.cfg')),
      'the request is logged, masked',
    );
    assert.ok(!lines.some((l) => l.includes(token)), 'no log line holds the token');
  } finally {
    await c.close();
  }
});

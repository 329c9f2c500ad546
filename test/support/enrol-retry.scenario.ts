import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { after, before, describe, it } from 'node:test';
import { createTestController, type TestController } from './controller.js';
import type { ControllerDeps } from '../../src/controller.js';
import { hashSecret } from '../../src/trust/credential/node-credential.js';

// An enrolling discovery report whose answer is lost (src/node/enrol-retry.ts, docs/discovery.md "A lost
// answer"): the node's retry with the same enrolment secret gets a fresh credential while the first was never
// used and within the window; everything else stays `enrolment_closed`.
const facts = (mac: string) => ({
  bootMac: mac,
  firmware: 'bios',
  cpu: { model: 'QEMU', count: 2 },
  nics: [{ name: 'eth0', mac }],
});
const newSecret = () => `ke_${randomBytes(32).toString('hex')}`;
const closedMessage = (name: string, mac: string) =>
  `${name} (${mac}) is already enrolled; a node must present its credential, or an operator must run \`kiln host rearm ${name}\``;

/** Runs the retry scenario on one store engine; `extra` can carry another database (PostgreSQL). */
export function enrolRetryScenario(
  engine: string,
  extra: () => Promise<{ opts: Partial<ControllerDeps>; close(): Promise<void> }>,
): void {
  describe(`a lost enrolment answer, retried (${engine})`, () => {
    let c: TestController;
    let skewMs = 0;
    let closeExtra: () => Promise<void> = async () => {};
    before(async () => {
      const e = await extra();
      closeExtra = e.close;
      c = await createTestController({ ...e.opts, now: () => new Date(Date.now() + skewMs) });
      const rule = await c.app.inject({
        method: 'PUT',
        url: '/api/v1/rules/retry-lab',
        headers: { authorization: c.bearer.admin },
        payload: { match: { macPrefix: '52:54:00:e2' }, assign: { tags: ['retry-lab'] } },
      });
      assert.equal(rule.statusCode, 200, rule.body);
    });
    after(async () => {
      await c.close();
      await closeExtra();
    });

    const discover = (mac: string, o: { secret?: string; bearer?: string } = {}) =>
      c.app.inject({
        method: 'POST',
        url: '/api/v1/node/discover',
        payload: { facts: facts(mac), ...(o.secret ? { enrolSecret: o.secret } : {}) },
        headers: o.bearer ? { authorization: `Bearer ${o.bearer}` } : {},
      });
    const next = (credential: string) =>
      c.app.inject({ method: 'GET', url: '/api/v1/node/next', headers: { authorization: `Bearer ${credential}` } });
    const events = async (host: string, kind: string) =>
      (
        await c.app.inject({
          url: `/api/v1/hosts/${host}/events?limit=1000`,
          headers: { authorization: c.bearer.admin },
        })
      )
        .json()
        .items.filter((e: { kind: string }) => e.kind === kind);
    const hostsWith = async (mac: string) =>
      (await c.app.inject({ url: `/api/v1/hosts?mac=${mac}`, headers: { authorization: c.bearer.admin } })).json().items
        .length as number;
    const refusedAs = (r: Awaited<ReturnType<typeof discover>>, name: string, mac: string) => {
      assert.equal(r.statusCode, 403, r.body);
      assert.equal(r.json().error.code, 'enrolment_closed');
      assert.equal(r.json().error.message, closedMessage(name, mac));
    };

    it('a retry with the same secret gets a working credential, the first stops working, the report counts once', async () => {
      const mac = '52:54:00:e2:00:01';
      const secret = newSecret();
      const lost = await discover(mac, { secret });
      assert.equal(lost.statusCode, 200, lost.body);
      const first = lost.json();
      const retry = await discover(mac, { secret });
      assert.equal(retry.statusCode, 200, retry.body);
      const again = retry.json();
      assert.match(again.credential, /^kn_/);
      assert.notEqual(again.credential, first.credential);
      assert.deepEqual({ ...again, credential: '' }, { ...first, credential: '' }, 'answered as the first time');
      const row = () =>
        c.db.selectFrom('node_trust').selectAll().where('host_id', '=', first.hostId).executeTakeFirstOrThrow();
      const stored = await row();
      assert.equal(stored.enrol_secret_hash, hashSecret(secret), 'only the hash of the secret is kept');
      assert.ok(!JSON.stringify(stored).includes(secret.slice(3)), 'the clear secret is not stored');
      assert.equal((await next(first.credential)).statusCode, 401, 'the replaced credential stops working');
      assert.equal((await next(again.credential)).statusCode, 200);
      assert.equal((await row()).enrol_secret_hash, null, 'the first use forgets the secret');
      assert.equal((await discover(mac, { bearer: again.credential })).statusCode, 200);
      assert.equal(await hostsWith(mac), 1);
      assert.equal((await events(first.name, 'node.enrolled')).length, 1);
      const retried = await events(first.name, 'node.enrol_retried');
      assert.equal(retried.length, 1);
      assert.match(retried[0].message, /a fresh credential replaces the unused one/);
      const ruled = (await events(first.name, 'host.updated')).filter(
        (e: { reason: string | null }) => e.reason === 'rule retry-lab',
      );
      assert.equal(ruled.length, 1, 'the rule is applied once');
      // Used now: a third try of the same report is refused.
      refusedAs(await discover(mac, { secret }), first.name, mac);
    });

    it('another secret, or none, is refused with the same message; the credential issued stays valid', async () => {
      const mac = '52:54:00:e2:00:02';
      const ok = (await discover(mac, { secret: newSecret() })).json();
      refusedAs(await discover(mac, { secret: newSecret() }), ok.name, mac);
      refusedAs(await discover(mac), ok.name, mac);
      assert.equal((await next(ok.credential)).statusCode, 200);
      const refused = await events(ok.name, 'node.enrol_refused');
      assert.deepEqual(refused.map((e: { data: { enrolRetry: string } }) => e.data.enrolRetry).sort(), [
        'no secret',
        'other secret',
      ]);
      assert.equal((await events(ok.name, 'node.enrol_retried')).length, 0);
    });

    it('a retry after the credential was used is refused', async () => {
      const mac = '52:54:00:e2:00:03';
      const secret = newSecret();
      const ok = (await discover(mac, { secret })).json();
      assert.equal((await next(ok.credential)).statusCode, 200);
      refusedAs(await discover(mac, { secret }), ok.name, mac);
      assert.equal((await next(ok.credential)).statusCode, 200, 'the used credential is not replaced');
    });

    it('a retry after the window is refused; within it, answered', async () => {
      const mac = '52:54:00:e2:00:04';
      const secret = newSecret();
      const ok = (await discover(mac, { secret })).json();
      try {
        skewMs = 14 * 60_000;
        const inWindow = await discover(mac, { secret });
        assert.equal(inWindow.statusCode, 200, inWindow.body);
        // Retries do not extend the window: 15 min from enrolment, not from the last retry.
        skewMs = 15 * 60_000 + 1000;
        refusedAs(await discover(mac, { secret }), ok.name, mac);
        assert.equal((await next(inWindow.json().credential)).statusCode, 200);
      } finally {
        skewMs = 0;
      }
    });

    it('a double report at once creates one host; one of the two credentials works', async () => {
      const mac = '52:54:00:e2:00:05';
      const secret = newSecret();
      const both = await Promise.all([discover(mac, { secret }), discover(mac, { secret })]);
      for (const r of both) assert.equal(r.statusCode, 200, r.body);
      assert.equal(await hostsWith(mac), 1);
      const [a, b] = both.map((r) => r.json());
      assert.equal(a.hostId, b.hostId);
      const works = [(await next(a.credential)).statusCode, (await next(b.credential)).statusCode].sort();
      assert.deepEqual(works, [200, 401]);
      // Without a secret, the second of two at once is refused; still one host.
      const mac2 = '52:54:00:e2:00:06';
      const plain = await Promise.all([discover(mac2), discover(mac2)]);
      assert.deepEqual(plain.map((r) => r.statusCode).sort(), [200, 403]);
      assert.equal(await hostsWith(mac2), 1);
    });

    it('an enrolment secret of the wrong shape is a validation error, not a refusal', async () => {
      const r = await discover('52:54:00:e2:00:07', { secret: 'ke_short' });
      assert.equal(r.statusCode, 400, r.body);
      assert.equal(r.json().error.code, 'validation_failed');
      assert.equal(await hostsWith('52:54:00:e2:00:07'), 0);
    });
  });
}

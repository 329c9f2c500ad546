import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { createTestController, type TestController } from './controller.js';
import type { ControllerDeps } from '../../src/controller.js';

// A completion whose answer was lost (src/node/complete-repeat.ts, docs/discovery.md "A lost answer"): the
// node's same `POST /node/complete` again, with the same credential and stage within the window, is answered with
// the host as it is and changes nothing; anything else is a completion or a check-in as before. The image writer's
// last progress report (stage installed) follows the same rule.
export function completeRepeatScenario(
  engine: string,
  extra: () => Promise<{ opts: Partial<ControllerDeps>; close(): Promise<void> }>,
): void {
  describe(`a lost completion answer, repeated (${engine})`, () => {
    let c: TestController;
    let skewMs = 0;
    let hosts = 0;
    let closeExtra: () => Promise<void> = async () => {};
    before(async () => {
      const e = await extra();
      closeExtra = e.close;
      c = await createTestController({ ...e.opts, now: () => new Date(Date.now() + skewMs) });
    });
    after(async () => {
      await c.close();
      await closeExtra();
    });

    const op = (method: 'GET' | 'POST', url: string, payload?: object) =>
      c.app.inject({ method, url: `/api/v1/${url}`, headers: { authorization: c.bearer.operator }, payload });
    const complete = (credential: string, stage: string) =>
      c.app.inject({
        method: 'POST',
        url: '/api/v1/node/complete',
        headers: { authorization: `Bearer ${credential}` },
        payload: { stage },
      });
    const enrol = async (mac: string) => {
      const r = await c.app.inject({ method: 'POST', url: '/api/v1/node/enrol', payload: { mac } });
      assert.equal(r.statusCode, 200, r.body);
      return (r.json() as { credential: string }).credential;
    };
    /** The host's events of `kind`, oldest first. */
    const events = async (host: string, kind: string) =>
      (
        (await op('GET', `hosts/${host}/events?limit=1000`)).json() as {
          items: { kind: string; reason: string | null; message: string }[];
        }
      ).items.filter((e) => e.kind === kind);
    /** A host deployed with debian-12 whose installer enrolled: its name, MAC and credential. */
    async function deploying(): Promise<{ name: string; mac: string; credential: string }> {
      hosts++;
      const name = `done-${hosts}`;
      const mac = `52:54:00:e5:00:${hosts.toString(16).padStart(2, '0')}`;
      assert.equal((await op('POST', 'hosts', { name, state: 'ready', nics: [{ mac }] })).statusCode, 201);
      assert.equal((await op('POST', `hosts/${name}/deploy`, { profile: 'debian-12' })).statusCode, 200);
      return { name, mac, credential: await enrol(mac) };
    }
    const deployment = async (host: string) =>
      ((await op('GET', `hosts/${host}/deployments`)).json() as { items: { status: string; completedAt: string }[] })
        .items[0]!;

    it('the same completion again is answered as the first: no second state change, event or deployment write', async () => {
      const h = await deploying();
      const first = await complete(h.credential, 'install');
      assert.equal(first.statusCode, 200, first.body);
      assert.deepEqual(first.json(), { state: 'deployed' });
      const completedAt = (await deployment(h.name)).completedAt;
      assert.ok(completedAt);
      skewMs = 60_000;
      try {
        for (let i = 0; i < 2; i++) {
          const again = await complete(h.credential, 'install');
          assert.equal(again.statusCode, 200, again.body);
          assert.deepEqual(again.json(), first.json(), 'answered as the first time');
        }
      } finally {
        skewMs = 0;
      }
      const moves = await events(h.name, 'host.state');
      assert.deepEqual(
        moves.map((e) => e.message),
        [`host ${h.name}: ready → deploying`, `host ${h.name}: deploying → deployed`],
      );
      assert.equal(moves[1]!.reason, 'install complete');
      assert.deepEqual(await events(h.name, 'node.checkin'), []);
      assert.equal((await deployment(h.name)).completedAt, completedAt, 'the deployment completed once');
    });

    it("the image writer's last progress report (installed) again is answered as the first: one event, one deployment write", async () => {
      const h = await deploying();
      const installed = (credential: string) =>
        c.app.inject({
          method: 'POST',
          url: '/api/v1/node/progress',
          headers: { authorization: `Bearer ${credential}` },
          payload: { stage: 'installed', message: 'installation finished; rebooting', handoff: 'reboot' },
        });
      const first = await installed(h.credential);
      assert.equal(first.statusCode, 200, first.body);
      assert.equal((await deployment(h.name)).status, 'installed');
      skewMs = 60_000;
      try {
        for (let i = 0; i < 2; i++) {
          const again = await installed(h.credential);
          assert.equal(again.statusCode, 200, again.body);
          assert.deepEqual(again.json(), first.json(), 'answered as the first time');
        }
      } finally {
        skewMs = 0;
      }
      const reports = (await events(h.name, 'node.progress')).filter((e) => e.message.startsWith('installed:'));
      assert.equal(reports.length, 1, 'one progress event for the three calls');
      // Past the window the same report is recorded again (as a completion's check-in is).
      try {
        skewMs = 15 * 60_000 + 1000;
        assert.equal((await installed(h.credential)).statusCode, 200);
      } finally {
        skewMs = 0;
      }
      assert.equal((await events(h.name, 'node.progress')).filter((e) => e.message.startsWith('installed:')).length, 2);
      // The installed system completes with the same credential: the completion is not taken for a repeat.
      assert.deepEqual((await complete(h.credential, 'firstboot')).json(), { state: 'deployed' });
      assert.equal((await deployment(h.name)).status, 'complete');
    });

    it('after the window, or for another stage, the call is a check-in as before', async () => {
      const h = await deploying();
      assert.equal((await complete(h.credential, 'install')).statusCode, 200);
      const checkin = await complete(h.credential, 'firstboot');
      assert.deepEqual(checkin.json(), { state: 'deployed' });
      assert.deepEqual(
        (await events(h.name, 'node.checkin')).map((e) => e.message),
        [`${h.name} checked in (firstboot) in state deployed`],
      );
      try {
        skewMs = 15 * 60_000 + 1000;
        assert.deepEqual((await complete(h.credential, 'firstboot')).json(), { state: 'deployed' });
      } finally {
        skewMs = 0;
      }
      assert.equal((await events(h.name, 'node.checkin')).length, 2, 'past the window: recorded again');
      assert.equal((await events(h.name, 'host.state')).length, 2);
    });

    it('a late repeat never moves the host on: released meanwhile, it stays releasing until the wiper completes', async () => {
      const h = await deploying();
      assert.equal((await complete(h.credential, 'install')).statusCode, 200);
      assert.equal((await op('POST', `hosts/${h.name}/release`, { wipe: true })).json().state, 'releasing');
      const late = await complete(h.credential, 'install');
      assert.equal(late.statusCode, 200, late.body);
      assert.deepEqual(late.json(), { state: 'releasing' }, 'the installer’s repeat does not end the release');
      // The wiper enrols (a new credential): its completion is its own, not a repeat of the installer's.
      const wiper = await enrol(h.mac);
      assert.deepEqual((await complete(wiper, 'install')).json(), { state: 'ready' });
      assert.equal((await complete(h.credential, 'install')).statusCode, 401, 'the installer’s credential is gone');
      assert.deepEqual(
        (await events(h.name, 'host.state')).map((e) => e.message.replace(`host ${h.name}: `, '')),
        ['ready → deploying', 'deploying → deployed', 'deployed → releasing', 'releasing → ready'],
      );
    });
  });
}

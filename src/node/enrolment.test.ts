import assert from 'node:assert/strict';
import { sql } from 'kysely';
import { after, before, describe, it } from 'node:test';
import { createTestController, type TestController } from '../../test/support/controller.js';

// Enrolment is one transaction (host, credential, state, facts, events): a
// failure half-way leaves nothing behind, and the honest node's next report
// enrols it. A report with a bad bearer writes no host.
const facts = (mac: string) => ({
  bootMac: mac,
  firmware: 'bios',
  cpu: { model: 'QEMU', count: 2 },
  nics: [{ name: 'eth0', mac }],
});

describe('enrolment is all or nothing', () => {
  let c: TestController;
  before(async () => {
    c = await createTestController();
  });
  after(async () => c.close());

  const count = async (table: string) =>
    Number((await sql<{ n: number }>`select count(*) as n from ${sql.table(table)}`.execute(c.db)).rows[0].n);
  const discover = (mac: string, bearer?: string) =>
    c.app.inject({
      method: 'POST',
      url: '/api/v1/node/discover',
      payload: { facts: facts(mac) },
      headers: bearer ? { authorization: `Bearer ${bearer}` } : {},
    });

  it('a failure after the host insert leaves no host, no credential and no event; the next report enrols', async () => {
    const mac = '52:54:00:e1:00:01';
    const events = await count('events');
    // The failure is injected by the store itself: the credential row cannot be written.
    await sql`CREATE TRIGGER fail_enrol BEFORE INSERT ON node_trust BEGIN SELECT RAISE(ABORT, 'injected failure after the host insert'); END`.execute(
      c.db,
    );
    const failed = await discover(mac);
    assert.equal(failed.statusCode, 500, failed.body);
    assert.equal(failed.json().error.code, 'internal');
    await sql`DROP TRIGGER fail_enrol`.execute(c.db);
    assert.equal(await c.inventory.findHostByMac(mac as never), null, 'no host');
    assert.equal(await count('hosts'), 0);
    assert.equal(await count('host_nics'), 0);
    assert.equal(await count('node_trust'), 0, 'no credential');
    assert.equal(await count('events'), events, 'no event');

    const ok = await discover(mac);
    assert.equal(ok.statusCode, 200, ok.body);
    assert.match(ok.json().credential, /^kn_/);
    const again = await discover(mac, ok.json().credential);
    assert.equal(again.statusCode, 200, again.body);
    const h = await c.inventory.findHostByMac(mac as never);
    assert.equal(h?.state, 'ready');
  });

  it('a report with a bad bearer is refused before any write: no host is created', async () => {
    const mac = '52:54:00:e1:00:02';
    const hosts = await count('hosts');
    const r = await discover(mac, 'kn_not-a-credential');
    assert.equal(r.statusCode, 401, r.body);
    assert.equal(r.json().error.code, 'credential_invalid');
    assert.equal(await c.inventory.findHostByMac(mac as never), null);
    assert.equal(await count('hosts'), hosts);
    // A valid credential of another host does not create this MAC either.
    const other = await discover('52:54:00:e1:00:03');
    const cross = await discover(mac, other.json().credential);
    assert.equal(cross.statusCode, 401, cross.body);
    assert.equal(await c.inventory.findHostByMac(mac as never), null);
  });
});

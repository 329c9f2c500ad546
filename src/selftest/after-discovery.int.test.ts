// afterDiscovery: poweroff on a host with a BMC: the controller powers it off through the BMC (libvirt's built-in
// test driver, test:///default, through the real virsh) once its discovery report commits, and tells the agent to
// wait; the power operation is the usual power.* events with the rule named as the reason.
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { after, before, describe, it } from 'node:test';
import { createTestController, type TestController } from '../../test/support/controller.js';

const noVirsh =
  spawnSync('sh', ['-c', 'command -v virsh']).status === 0
    ? false
    : 'virsh not installed (apt-get install libvirt-clients)';

describe('after discovery: power off through the BMC', { skip: noVirsh }, () => {
  let c: TestController;
  before(async () => {
    c = await createTestController({ powerConfig: { timeoutMs: 15_000, maxConcurrent: 4, libvirtTestDriver: true } });
  });
  after(async () => c.close());

  const api = async (method: 'POST' | 'PUT', url: string, payload: object, auth = c.bearer.admin) =>
    c.app.inject({ method, url: `/api/v1/${url}`, payload, headers: auth ? { authorization: auth } : {} });

  it('a host with a BMC is powered off by the controller; the agent is told to wait', async () => {
    const enlist = await api('POST', 'bmc/enlist', { driver: 'libvirt', address: 'test:///default' });
    assert.equal(enlist.statusCode, 200, enlist.body);
    const rule = await api('PUT', 'rules/park', {
      match: { macPrefix: 'aa:bb:cc' },
      assign: { afterDiscovery: 'poweroff' },
    });
    assert.equal(rule.statusCode, 200, rule.body);
    const mac = 'aa:bb:cc:dd:ee:ff';
    const res = await api(
      'POST',
      'node/discover',
      { facts: { bootMac: mac, firmware: 'bios', nics: [{ name: 'eth0', mac }] } },
      '',
    );
    assert.equal(res.statusCode, 200, res.body);
    assert.equal(res.json().then, 'wait', 'the BMC does it, not the agent');
    const host = await c.inventory.getHost('test');
    assert.equal(host.state, 'ready');
    const deadline = Date.now() + 20_000;
    let done: Awaited<ReturnType<typeof c.inventory.listEvents>> = [];
    while (Date.now() < deadline) {
      done = (await c.inventory.listEvents({ hostId: host.id, kindPrefix: 'power.' })).filter(
        (e) => e.kind !== 'power.started',
      );
      if (done.length > 0) break;
      await new Promise((r) => setTimeout(r, 100));
    }
    assert.equal(done[0]?.kind, 'power.succeeded', JSON.stringify(done));
    assert.match(done[0]!.message, /power off/i);
    assert.equal(done[0]!.reason, 'after discovery (rule park)');
  });
});

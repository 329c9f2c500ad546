import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { createTestController, type TestController } from '../../test/support/controller.js';
import type { Mac } from '../net/mac.js';
import { createBootBackend } from './boot-backend.js';
import { createDiscoveryPolicy } from './discovery-policy.js';

describe('boot backend', () => {
  let c: TestController;
  before(async () => {
    c = await createTestController();
  });
  after(() => c.close());

  it('one creation path: DHCP and HTTP enrolling one unknown MAC at once create one host', async () => {
    const mac = '52:54:00:be:00:01' as Mac;
    const byDhcp = c.bootBackend.enrolUnknown(mac, { via: 'dhcp', subnet: '10.0.0.0/24' });
    const byHttp = c.bootBackend.enrolUnknown(mac, { via: 'http', ip: '10.0.0.9', firmware: 'uefi' });
    assert.ok(byDhcp.ok && byHttp.ok);
    const [a, b] = await Promise.all([byDhcp.host, byHttp.host]);
    assert.equal(a.id, b.id);
    assert.equal((await c.bootBackend.hostByMac(mac))?.id, a.id);
    assert.equal((await c.inventory.listHosts({ mac })).length, 1);
  });

  it('a MAC created meanwhile by another path is found, not refused', async () => {
    const mac = '52:54:00:be:00:02' as Mac;
    const created = await c.inventory.createHost(
      { name: 'node-525400be0002', nics: [{ mac, name: null, boot: true }] },
      { actor: 'test' },
    );
    const e = c.bootBackend.enrolUnknown(mac, { via: 'http', ip: '10.0.0.9', firmware: 'bios' });
    assert.ok(e.ok);
    assert.equal((await e.host).id, created.id);
  });

  it('the discovery policy refuses with its code and reason, and nothing is created', async () => {
    const backend = createBootBackend({
      inventory: c.inventory,
      discovery: createDiscoveryPolicy({
        settings: { mode: 'off', allow: [], perSubnetPerMinute: 10, bootSourceRanges: [] },
        subnets: [],
        leaseOwner: async () => null,
        record: async () => {},
      }),
      bootDeployment: async () => null,
    });
    const mac = '52:54:00:be:00:03' as Mac;
    const e = backend.enrolUnknown(mac, { via: 'dhcp', subnet: '10.0.0.0/24' });
    assert.equal(e.ok, false);
    assert.equal(!e.ok && e.code, 'discovery_refused');
    assert.equal(await backend.hostByMac(mac), null);
  });

  it('a DHCP enrolment refused only for now (shared admissions being claimed) is answered and waits for the claim', async () => {
    let claimed = false;
    let release!: () => void;
    const claim = new Promise<void>((r) => (release = r));
    const backend = createBootBackend({
      inventory: c.inventory,
      discovery: createDiscoveryPolicy({
        settings: { mode: 'auto', allow: [], perSubnetPerMinute: 10, bootSourceRanges: [] },
        subnets: [],
        leaseOwner: async () => null,
        record: async () => {},
        quota: {
          take: () => (claimed ? { ok: true } : { ok: false, pending: true, retryInSeconds: 1 }),
          settled: () => claim,
          giveBack: () => {},
        },
      }),
      bootDeployment: async () => null,
    });
    const mac = '52:54:00:be:00:04' as Mac;
    const e = backend.enrolUnknown(mac, { via: 'dhcp', subnet: '10.0.0.0/24' });
    // Not a refusal: the DHCP thread answers the client now.
    assert.equal(e.ok, true);
    assert.equal(await backend.hostByMac(mac), null, 'no host before the claim settles');
    claimed = true;
    release();
    assert.ok(e.ok);
    const host = await e.host;
    assert.equal((await backend.hostByMac(mac))?.id, host.id);
  });

  it('a DHCP enrolment whose claim finds the minute full creates nothing and rejects with rate_limited', async () => {
    let full = false;
    const backend = createBootBackend({
      inventory: c.inventory,
      discovery: createDiscoveryPolicy({
        settings: { mode: 'auto', allow: [], perSubnetPerMinute: 10, bootSourceRanges: [] },
        subnets: [],
        leaseOwner: async () => null,
        record: async () => {},
        quota: {
          take: () =>
            full ? { ok: false, pending: false, retryInSeconds: 30 } : { ok: false, pending: true, retryInSeconds: 1 },
          settled: async () => {
            full = true;
          },
          giveBack: () => {},
        },
      }),
      bootDeployment: async () => null,
    });
    const mac = '52:54:00:be:00:05' as Mac;
    const e = backend.enrolUnknown(mac, { via: 'dhcp', subnet: '10.0.0.0/24' });
    assert.ok(e.ok);
    await assert.rejects(e.host, (err: Error & { code?: string }) => err.code === 'rate_limited');
    assert.equal(await backend.hostByMac(mac), null);
    // The next report is refused outright (the DHCP thread stops answering it).
    const again = backend.enrolUnknown(mac, { via: 'dhcp', subnet: '10.0.0.0/24' });
    assert.equal(again.ok, false);
    assert.equal(!again.ok && again.code, 'rate_limited');
  });
});

import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { createTestController, type TestController } from '../../test/support/controller.js';
import { silentLogger } from '../log/logger.js';
import type { Mac } from '../net/mac.js';
import { encodeDhcp, decodeDhcp } from '../protocols/dhcp4/packet.js';
import { textOption, uintOption } from '../protocols/dhcp4/options.js';
import { defaultDhcpConfig } from './dhcp/dhcp-config.js';
import { startDhcpServer } from './dhcp/dhcp-server.js';
import { createMemorySocket, type MemorySocket } from '../net/datagram/memory-socket.js';
import { createMemoryLeaseStore } from './dhcp/lease-store.js';
import { inventoryDhcpBackend } from './network-servers.js';
import {
  checkAllowList,
  createDiscoveryPolicy,
  type DiscoverySettings,
  type ServedSubnet,
} from './discovery-policy.js';

// Item: anyone on the boot network could fill the store (2000 random MACs →
// 2000 hosts in 3 s; an event per script fetch; a host created before a bad
// bearer was refused). One policy decides for DHCP, HTTP boot and the node API.
const settings = (over: Partial<DiscoverySettings> = {}): DiscoverySettings => ({
  mode: 'auto',
  allow: [],
  perSubnetPerMinute: 1000,
  bootSourceRanges: [],
  ...over,
});
const randomMac = (i: number) =>
  `02:${[i >> 16, (i >> 8) & 255, i & 255, 0x5a, 0xa5].map((x) => x.toString(16).padStart(2, '0')).join(':')}`;
const nodeImage = () => ({ dir: '/nonexistent', arch: 'x86_64' });

async function controller(
  discovery: { settings: DiscoverySettings; subnets?: ServedSubnet[] },
  leases: Record<string, string> = {},
): Promise<TestController> {
  return createTestController({
    discovery: { settings: discovery.settings, subnets: discovery.subnets ?? [] },
    leaseOwner: async (ip) => (leases[ip] ?? null) as Mac | null,
    boot: { nodeImage },
  });
}
const script = (c: TestController, mac: string, ip = '127.0.0.1') =>
  c.app.inject({
    url: `/boot/host.ipxe?mac=${encodeURIComponent(mac)}&arch=x86_64&platform=pcbios`,
    remoteAddress: ip,
  });
const discover = (c: TestController, mac: string, ip = '127.0.0.1') =>
  c.app.inject({
    method: 'POST',
    url: '/api/v1/node/discover',
    remoteAddress: ip,
    payload: { facts: { bootMac: mac } },
  });
// Boot events are written after the answer (group commit): wait for them before reading.
const events = async (c: TestController, kind: string) => {
  await c.boot.flushEvents();
  return (
    await c.app.inject({ url: `/api/v1/events?kind=${kind}&limit=1000`, headers: { authorization: c.bearer.admin } })
  ).json().items as Array<{ kind: string; data: Record<string, unknown>; hostId: string | null }>;
};
const hostCount = async (c: TestController) => (await c.inventory.listHosts({})).length;

describe('discovery policy over HTTP boot and the node API', () => {
  it('a flood of 300 random MACs creates at most discovery-limit hosts; the rest get 429 and one event', async () => {
    const c = await controller({ settings: settings({ perSubnetPerMinute: 50 }) });
    try {
      const codes = new Map<number, number>();
      for (let i = 0; i < 300; i++) {
        const r = await script(c, randomMac(i));
        codes.set(r.statusCode, (codes.get(r.statusCode) ?? 0) + 1);
      }
      assert.deepEqual([...codes].sort(), [
        [200, 50],
        [429, 250],
      ]);
      assert.equal(await hostCount(c), 50);
      assert.equal((await events(c, 'discovery.rate_limited')).length, 1, 'one event per window, not one per refusal');
      assert.equal((await events(c, 'boot.script')).length, 50);
      // A host admitted in this window is still answered (its retries are not new hosts).
      assert.equal((await script(c, randomMac(0))).statusCode, 200);
      // Enrolment of an unknown MAC counts toward the same bound.
      const d = await discover(c, randomMac(9999));
      assert.equal(d.statusCode, 429, d.body);
      assert.equal(await hostCount(c), 50);
    } finally {
      await c.close();
    }
  });

  it('off: unknown MACs get no script and cannot enrol (403 discovery_refused, nothing created); a host an operator added boots', async () => {
    const c = await controller({ settings: settings({ mode: 'off' }) });
    try {
      const s = await script(c, '52:54:00:0f:00:01');
      assert.equal(s.statusCode, 403);
      assert.equal(s.json().error.code, 'discovery_refused');
      const d = await discover(c, '52:54:00:0f:00:02');
      assert.equal(d.statusCode, 403);
      assert.equal(d.json().error.code, 'discovery_refused');
      assert.equal(await hostCount(c), 0);
      assert.equal((await events(c, 'discovery.refused')).length, 1);
      const add = await c.app.inject({
        method: 'POST',
        url: '/api/v1/hosts',
        headers: { authorization: c.bearer.operator },
        payload: { name: 'known', nics: [{ mac: '52:54:00:0f:00:03' }] },
      });
      assert.equal(add.statusCode, 201, add.body);
      assert.equal((await script(c, '52:54:00:0f:00:03')).statusCode, 200);
      assert.equal((await discover(c, '52:54:00:0f:00:03')).statusCode, 200);
    } finally {
      await c.close();
    }
  });

  it('allow-list: a listed MAC, a listed OUI and a listed subnet are admitted; others are refused', async () => {
    const c = await controller({
      settings: settings({ mode: 'allow-list', allow: ['52:54:00:aa:00:01', '0c:c4:7a', '10.7.0.0/24'] }),
    });
    try {
      assert.equal((await script(c, '52:54:00:aa:00:01')).statusCode, 200, 'MAC');
      assert.equal((await script(c, '0C-C4-7A-11-22-33')).statusCode, 200, 'OUI');
      assert.equal((await script(c, '52:54:00:aa:00:02', '10.7.0.9')).statusCode, 200, 'subnet');
      assert.equal((await script(c, '52:54:00:aa:00:03', '10.8.0.9')).statusCode, 403, 'another subnet');
      assert.equal((await script(c, '52:54:00:aa:00:04')).statusCode, 403, 'unlisted');
      assert.equal(await hostCount(c), 3);
    } finally {
      await c.close();
    }
  });

  it('a script or enrolment for a MAC is answered only to the address Kiln leased to it; else refused and recorded', async () => {
    const macA = '52:54:00:1e:00:01';
    const c = await controller(
      {
        settings: settings({ bootSourceRanges: ['10.6.0.0/24'] }),
        subnets: [
          { cidr: '10.5.0.0/24', mode: 'full' },
          { cidr: '10.9.0.0/24', mode: 'proxy' },
        ],
      },
      { '10.5.0.10': macA, '10.5.0.11': '52:54:00:1e:00:02' },
    );
    try {
      const wrong = await script(c, macA, '10.5.0.11');
      assert.equal(wrong.statusCode, 403);
      assert.equal(wrong.json().error.code, 'discovery_refused');
      assert.match(wrong.json().error.message, /leased to 52:54:00:1e:00:02, not to 52:54:00:1e:00:01/);
      assert.equal((await script(c, macA, '10.5.0.12')).statusCode, 403, 'an address with no lease');
      assert.equal((await script(c, macA, '192.0.2.7')).statusCode, 403, 'an address in no served subnet');
      assert.equal((await discover(c, macA, '10.5.0.11')).statusCode, 403, "enrolment from another MAC's address");
      assert.equal(await hostCount(c), 0, 'refusals create nothing');
      const refused = await events(c, 'boot.source_refused');
      // The script and the enrolment from 10.5.0.11 are one refusal of that MAC from that address this minute.
      assert.equal(refused.length, 3);
      assert.deepEqual(refused.map((e) => e.data['ip']).sort(), ['10.5.0.11', '10.5.0.12', '192.0.2.7']);
      assert.equal((await script(c, macA, '10.5.0.10')).statusCode, 200, 'the leased address');
      assert.equal(
        (await script(c, macA, '::ffff:10.5.0.10')).statusCode,
        200,
        'the leased address as a dual-stack listener reports it',
      );
      assert.equal((await script(c, '52:54:00:1e:00:03', '10.6.0.40')).statusCode, 200, 'a declared boot source range');
      assert.equal(
        (await script(c, '52:54:00:1e:00:04', '10.9.0.40')).statusCode,
        200,
        'a proxy-mode subnet: Kiln has no lease there',
      );
      const enrol = await discover(c, macA, '10.5.0.10');
      assert.equal(enrol.statusCode, 200, enrol.body);
      // The refusal of the same MAC from the same address is recorded once a minute, not per request.
      for (let i = 0; i < 5; i++) await script(c, macA, '10.5.0.11');
      assert.equal((await events(c, 'boot.source_refused')).length, 3);
    } finally {
      await c.close();
    }
  });

  it("a known host's script is answered to the address leased to its other NIC (UEFI iPXE tries every NIC), not to another host's", async () => {
    const [nic1, nic2, other] = ['52:54:00:1f:00:01', '52:54:00:1f:00:02', '52:54:00:1f:00:03'] as Mac[];
    const c = await controller(
      { settings: settings(), subnets: [{ cidr: '10.5.0.0/24', mode: 'full' }] },
      { '10.5.0.21': nic2, '10.5.0.22': other },
    );
    try {
      await c.inventory.createHost(
        {
          name: 'two-nics',
          nics: [
            { mac: nic1, name: null, boot: true },
            { mac: nic2, name: null, boot: false },
          ],
        },
        { actor: 'test' },
      );
      await c.inventory.createHost(
        { name: 'other', nics: [{ mac: other, name: null, boot: true }] },
        { actor: 'test' },
      );
      assert.equal((await script(c, nic1, '10.5.0.21')).statusCode, 200, "the host's second NIC's address");
      assert.equal((await script(c, nic1, '10.5.0.22')).statusCode, 403, "another host's address");
    } finally {
      await c.close();
    }
  });

  it('repeated fetches of the same script are one event; a stage change is another', async () => {
    const c = await controller({ settings: settings() });
    try {
      const mac = '52:54:00:e7:00:01';
      for (let i = 0; i < 10; i++) assert.equal((await script(c, mac)).statusCode, 200);
      assert.equal((await events(c, 'boot.script')).length, 1);
      const h = (await c.inventory.findHostByMac(mac as Mac))!;
      await c.inventory.transition(h.id, 'ready', { actor: 'test' });
      for (let i = 0; i < 10; i++) assert.equal((await script(c, mac)).statusCode, 200);
      assert.equal((await events(c, 'boot.script')).length, 2);
    } finally {
      await c.close();
    }
  });
});

describe('discovery policy over DHCP', () => {
  let c: TestController;
  before(async () => {
    c = await controller({ settings: settings({ mode: 'off' }) });
  });
  after(async () => c.close());

  const discoverPacket = (last: number) => {
    const chaddr = new Uint8Array(16);
    chaddr.set([0x52, 0x54, 0, 0x0d, 0, last]);
    return encodeDhcp({
      op: 1,
      htype: 1,
      hlen: 6,
      hops: 0,
      xid: 0x2000 + last,
      secs: 0,
      flags: 0,
      ciaddr: '0.0.0.0',
      yiaddr: '0.0.0.0',
      siaddr: '0.0.0.0',
      giaddr: '0.0.0.0',
      chaddr,
      sname: '',
      file: '',
      options: [uintOption(53, 1, 1), uintOption(93, 0, 2), textOption(60, 'PXEClient:Arch:00000:UNDI:002001')],
    });
  };
  async function exchange(sock: MemorySocket, bytes: Uint8Array) {
    const n = sock.sent.length;
    sock.inject(bytes, { address: '0.0.0.0', port: 68 });
    for (let i = 0; i < 100 && sock.sent.length === n; i++) await new Promise((r) => setTimeout(r, 2));
    const s = sock.sent[n];
    return s && decodeDhcp(s.bytes);
  }

  for (const mode of ['full', 'proxy'] as const) {
    it(`off (${mode} mode): an unknown MAC gets no reply and no host; a known MAC is answered`, async () => {
      const dhcp = createMemorySocket();
      const pxe = createMemorySocket();
      const server = await startDhcpServer({
        config: {
          ...defaultDhcpConfig,
          enabled: true,
          serverAddress: '10.0.0.1',
          httpBase: 'http://10.0.0.1:8080',
          subnets: [
            {
              cidr: '10.0.0.0/24',
              mode,
              pools: [{ start: '10.0.0.100', end: '10.0.0.110' }],
              dns: [],
              leaseSeconds: 600,
              attached: true,
            },
          ],
        },
        backend: inventoryDhcpBackend(c.inventory, silentLogger, undefined, c.discovery),
        leases: createMemoryLeaseStore(),
        sockets: { dhcp, pxe },
      });
      try {
        assert.equal(await exchange(dhcp, discoverPacket(1)), undefined, 'no reply to an unknown MAC');
        assert.equal(await c.inventory.findHostByMac('52:54:00:0d:00:01' as Mac), null);
        await c.inventory.createHost(
          {
            name: `known-${mode}`,
            nics: [{ mac: `52:54:00:0d:00:${mode === 'full' ? '02' : '03'}` as Mac, name: null, boot: true }],
          },
          { actor: 'test' },
        );
        const reply = await exchange(dhcp, discoverPacket(mode === 'full' ? 2 : 3));
        assert.ok(reply, 'a known MAC gets its offer');
      } finally {
        await server.close();
      }
    });
  }

  it('auto: an unknown MAC is answered and becomes a host; the bound counts a DISCOVER and its REQUEST once', async () => {
    const policy = createDiscoveryPolicy({
      settings: settings({ perSubnetPerMinute: 1 }),
      subnets: [],
      leaseOwner: async () => null,
      record: async () => {},
    });
    assert.ok(policy.admitUnknown('52:54:00:0d:01:01' as Mac, { via: 'dhcp', subnet: '10.0.0.0/24' }).ok);
    assert.ok(
      policy.admitUnknown('52:54:00:0d:01:01' as Mac, { via: 'dhcp', subnet: '10.0.0.0/24' }).ok,
      'the same MAC again',
    );
    assert.equal(
      policy.admitUnknown('52:54:00:0d:01:02' as Mac, { via: 'dhcp', subnet: '10.0.0.0/24' }).ok,
      false,
      'a second MAC is over the bound',
    );
    assert.ok(
      policy.admitUnknown('52:54:00:0d:01:02' as Mac, { via: 'dhcp', subnet: '10.1.0.0/24' }).ok,
      'the bound is per subnet',
    );
  });

  it('the allow-list setting names its first bad entry', () => {
    assert.equal(checkAllowList('52:54:00, 10.0.0.0/24 aa:bb:cc:dd:ee:ff'), null);
    assert.match(checkAllowList('52:54:00, nonsense') ?? '', /"nonsense" is not a MAC/);
  });
});

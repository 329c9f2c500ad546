import { test } from 'node:test';
import assert from 'node:assert/strict';
import { startDhcpServer } from './dhcp-server.js';
import { createMemorySocket } from '../../net/datagram/memory-socket.js';
import { createMemoryLeaseStore } from './lease-store.js';
import { defaultDhcpConfig, type DhcpSubnet } from './dhcp-config.js';
import {
  checkInterfaceConfig,
  parseIpAddrJson,
  planDhcpListeners,
  resolveSubnetInterfaces,
  type bindDhcpListener,
  type LocalAddress,
} from './dhcp-listeners.js';
import { selectSubnet } from './subnet-math.js';
import { hasCode } from '../../error/kiln-error.js';
import { decodeDhcp, encodeDhcp } from '../../protocols/dhcp4/packet.js';
import { summarizeDhcp } from '../../protocols/dhcp4/summarize.js';
import { uintOption } from '../../protocols/dhcp4/options.js';

const sub = (cidr: string, over: Partial<DhcpSubnet> = {}): DhcpSubnet => {
  const net = cidr.slice(0, cidr.lastIndexOf('.'));
  return {
    cidr,
    mode: 'full',
    pools: [{ start: `${net}.100`, end: `${net}.110` }],
    router: `${net}.1`,
    dns: [],
    leaseSeconds: 600,
    attached: false,
    ...over,
  };
};
const eth1 = sub('10.81.1.0/24', { interface: 'eth1', serverAddress: '10.81.1.1' });
const eth2 = sub('10.81.2.0/24', { interface: 'eth2', serverAddress: '10.81.2.1' });
const relayed = sub('10.90.0.0/24');
const attached = sub('10.0.0.0/24', { attached: true });

test('selectSubnet: relayed by giaddr, else by arrival interface (interface mode) or the attached subnet', () => {
  const cases: Array<{
    name: string;
    giaddr: string;
    subnets: DhcpSubnet[];
    arrival?: string;
    want: string | undefined;
  }> = [
    {
      name: 'relayed: giaddr wins over the arrival interface',
      giaddr: '10.90.0.1',
      subnets: [eth1, eth2, relayed],
      arrival: 'eth1',
      want: '10.90.0.0/24',
    },
    {
      name: 'relayed on the unbound relay socket',
      giaddr: '10.90.0.1',
      subnets: [eth1, relayed],
      want: '10.90.0.0/24',
    },
    {
      name: 'relayed from an unknown subnet',
      giaddr: '10.99.0.1',
      subnets: [eth1, relayed],
      arrival: 'eth1',
      want: undefined,
    },
    {
      name: 'interface mode: broadcast on eth1',
      giaddr: '0.0.0.0',
      subnets: [eth1, eth2],
      arrival: 'eth1',
      want: '10.81.1.0/24',
    },
    {
      name: 'interface mode: broadcast on eth2',
      giaddr: '0.0.0.0',
      subnets: [eth1, eth2],
      arrival: 'eth2',
      want: '10.81.2.0/24',
    },
    {
      name: "interface mode: the relay socket's copy of a broadcast",
      giaddr: '0.0.0.0',
      subnets: [eth1, relayed],
      want: undefined,
    },
    {
      name: 'interface mode: a device no subnet names',
      giaddr: '0.0.0.0',
      subnets: [eth1, eth2],
      arrival: 'eth9',
      want: undefined,
    },
    {
      name: 'single socket: the attached subnet',
      giaddr: '0.0.0.0',
      subnets: [relayed, attached],
      want: '10.0.0.0/24',
    },
    { name: 'single socket: the only subnet', giaddr: '0.0.0.0', subnets: [relayed], want: '10.90.0.0/24' },
    {
      name: 'single socket: several, none attached',
      giaddr: '0.0.0.0',
      subnets: [relayed, sub('10.91.0.0/24')],
      want: undefined,
    },
  ];
  for (const c of cases) assert.equal(selectSubnet(c.giaddr, c.subnets, c.arrival)?.cidr, c.want, c.name);
});

test('planDhcpListeners: one unbound socket, one per interface, plus an unbound relay socket when a subnet has no interface', () => {
  assert.deepEqual(planDhcpListeners([attached, relayed]), [undefined]);
  assert.deepEqual(planDhcpListeners([eth1, eth2]), ['eth1', 'eth2']);
  assert.deepEqual(planDhcpListeners([eth1, relayed, eth2]), ['eth1', 'eth2', undefined]);
});

test('checkInterfaceConfig: attached beside named interfaces and two subnets on one interface are config errors', () => {
  assert.deepEqual(checkInterfaceConfig([attached, relayed]), []);
  assert.deepEqual(
    checkInterfaceConfig([eth1, attached, sub('10.81.3.0/24', { interface: 'eth1' })]).map((i) => i.path),
    ['dhcp.subnets.1.attached', 'dhcp.subnets.2.interface'],
  );
  assert.throws(
    () => planDhcpListeners([eth1, attached]),
    (err) => hasCode(err, 'config_invalid') && /dhcp\.subnets\.1\.attached/.test(err.message),
  );
});

function discover(mac: number): Uint8Array {
  const chaddr = new Uint8Array(16);
  chaddr.set([0x52, 0x54, 0, 0, 0x81, mac]);
  return encodeDhcp({
    op: 1,
    htype: 1,
    hlen: 6,
    hops: 0,
    xid: 0x8100 + mac,
    secs: 0,
    flags: 0,
    ciaddr: '0.0.0.0',
    yiaddr: '0.0.0.0',
    siaddr: '0.0.0.0',
    giaddr: '0.0.0.0',
    chaddr,
    sname: '',
    file: '',
    options: [uintOption(53, 1, 1)],
  });
}

test("server: a broadcast is answered from its arrival socket's subnet, on that socket; the relay socket ignores broadcasts", async () => {
  const [a, b, any] = [createMemorySocket(), createMemorySocket(), createMemorySocket()];
  const server = await startDhcpServer({
    config: {
      ...defaultDhcpConfig,
      enabled: true,
      serverAddress: '10.9.9.9',
      httpBase: 'http://10.9.9.9:8080',
      subnets: [eth1, eth2, relayed],
    },
    backend: { findHostByMac: async () => null },
    leases: createMemoryLeaseStore(),
    sockets: { dhcp: [{ socket: a, interface: 'eth1' }, { socket: b, interface: 'eth2' }, { socket: any }] },
  });
  const client = { address: '0.0.0.0', port: 68 };
  // The kernel hands a broadcast to the device socket and to the unbound one: simulate both copies.
  for (const [sock, mac] of [
    [a, 1],
    [b, 2],
  ] as const) {
    sock.inject(discover(mac), client);
    any.inject(discover(mac), client);
  }
  for (let i = 0; i < 100 && (a.sent.length === 0 || b.sent.length === 0); i++)
    await new Promise((r) => setTimeout(r, 2));
  await server.close();
  assert.deepEqual([a.sent.length, b.sent.length, any.sent.length], [1, 1, 0]);
  assert.equal(
    summarizeDhcp(decodeDhcp(a.sent[0].bytes)),
    'DHCPOFFER xid=0x00008101 mac=52:54:00:00:81:01 yiaddr=10.81.1.100 54=10.81.1.1 51=600 1=255.255.255.0 58=300 59=525 3=10.81.1.1',
  );
  assert.equal(
    summarizeDhcp(decodeDhcp(b.sent[0].bytes)),
    'DHCPOFFER xid=0x00008102 mac=52:54:00:00:81:02 yiaddr=10.81.2.100 54=10.81.2.1 51=600 1=255.255.255.0 58=300 59=525 3=10.81.2.1',
  );
  assert.deepEqual(a.sent[0].to, { address: '255.255.255.255', port: 68 });
});

const here: LocalAddress[] = [
  { interface: 'lo', address: '127.0.0.1' },
  { interface: 'eth0', address: '192.168.7.5' },
  { interface: 'eth1', address: '10.20.0.1' },
  { interface: 'eth2', address: '10.30.0.1' },
];
const readme = (over: Partial<DhcpSubnet> = {}): DhcpSubnet => sub('10.20.0.0/24', { attached: true, ...over });

test('resolveSubnetInterfaces: an attached subnet gets the interface holding its address; interface: overrides; relayed stays unbound', () => {
  const cases: Array<{ name: string; s: DhcpSubnet; want: Partial<DhcpSubnet> }> = [
    {
      name: 'the README example (attached: true, no interface)',
      s: readme(),
      want: { interface: 'eth1', attached: true, serverAddress: '10.20.0.1' },
    },
    {
      name: 'a subnet with a local address needs no flag',
      s: sub('10.30.0.0/24'),
      want: { interface: 'eth2', attached: true, serverAddress: '10.30.0.1' },
    },
    { name: 'explicit interface is kept', s: readme({ interface: 'br9' }), want: { interface: 'br9' } },
    {
      name: 'explicit serverAddress is kept',
      s: readme({ serverAddress: '10.20.0.9' }),
      want: { interface: 'eth1', serverAddress: '10.20.0.9' },
    },
    {
      name: 'relayed: no interface',
      s: sub('10.90.0.0/24', { relayed: true }),
      want: { interface: undefined, relayed: true },
    },
  ];
  for (const c of cases) {
    const [got] = resolveSubnetInterfaces([c.s], here, '192.168.7.5');
    for (const [k, v] of Object.entries(c.want))
      assert.equal((got as Record<string, unknown>)[k], v, `${c.name}: ${k}`);
  }
  // The global server address inside the subnet stays option 54.
  assert.equal(resolveSubnetInterfaces([readme()], here, '10.20.0.1')[0].serverAddress, undefined);
  // Resolving twice changes nothing (network-servers and the DHCP server both call it).
  const once = resolveSubnetInterfaces([readme(), sub('10.90.0.0/24', { relayed: true })], here, '192.168.7.5');
  assert.deepEqual(resolveSubnetInterfaces(once, here, '192.168.7.5'), once);
});

test('resolveSubnetInterfaces: every subnet that is neither attached nor declared relayed is a config error naming it', () => {
  const cases: Array<{ name: string; s: DhcpSubnet; extra?: LocalAddress[]; want: RegExp }> = [
    {
      name: 'no flags, no local address',
      s: sub('10.99.0.0/24'),
      want: /dhcp\.subnets\.0 \(10\.99\.0\.0\/24\) is neither attached .* nor declared relayed: true/,
    },
    {
      name: 'attached, no local address',
      s: sub('10.99.0.0/24', { attached: true }),
      want: /dhcp\.subnets\.0 \(10\.99\.0\.0\/24\): attached: true, but no interface of this machine has an address in 10\.99\.0\.0\/24 \(its addresses: eth0 192\.168\.7\.5, eth1 10\.20\.0\.1, eth2 10\.30\.0\.1\)/,
    },
    {
      name: 'relayed, but a local address',
      s: sub('10.20.0.0/24', { relayed: true }),
      want: /dhcp\.subnets\.0 \(10\.20\.0\.0\/24\): relayed: true, but this machine has an address in it \(eth1 10\.20\.0\.1\)/,
    },
    {
      name: 'relayed and attached',
      s: sub('10.99.0.0/24', { relayed: true, attached: true }),
      want: /relayed: true cannot go with attached: true/,
    },
    {
      name: 'two interfaces in one subnet',
      s: readme(),
      extra: [{ interface: 'eth3', address: '10.20.0.2' }],
      want: /several interfaces have an address in it \(eth1 10\.20\.0\.1, eth3 10\.20\.0\.2\); name the one to serve with interface: <dev>/,
    },
  ];
  for (const c of cases) {
    assert.throws(
      () => resolveSubnetInterfaces([c.s], [...here, ...(c.extra ?? [])], '192.168.7.5'),
      (e) => hasCode(e, 'config_invalid') && c.want.test(e.message) && e.issues.length === 1,
      c.name,
    );
  }
});

test('server: a socket that dies is re-opened with back-off (event); one that cannot be is reported once on the fatal channel', async () => {
  const made: Array<{ sock: ReturnType<typeof createMemorySocket>; die: (e: NodeJS.ErrnoException) => void }> = [];
  let failNext = 0;
  const bindListener: typeof bindDhcpListener = async (o, dev) => {
    if (failNext > 0) {
      failNext--;
      throw Object.assign(new Error(`cannot bind the DHCP socket to interface "${dev}": no such interface`), {
        code: 'ENODEV',
      });
    }
    const sock = createMemorySocket();
    made.push({ sock, die: (e) => o.trouble!(dev).onDeath!(e) });
    return { socket: sock, interface: dev };
  };
  const events: string[] = [];
  const fatal: string[] = [];
  const server = await startDhcpServer({
    config: {
      ...defaultDhcpConfig,
      enabled: true,
      serverAddress: '10.20.0.1',
      httpBase: 'http://10.20.0.1:8080',
      subnets: [readme()],
    },
    backend: { findHostByMac: async () => null },
    leases: createMemoryLeaseStore(),
    localAddresses: () => here,
    bindListener,
    reopenDelaysMs: [1, 1, 1],
    onSocketEvent: (e) => events.push(`${e.kind} ${e.interface}:${e.port} ${e.error}`),
    onFatal: (e) => fatal.push(e.message),
  });
  try {
    assert.equal(made.length, 1, 'one socket, bound to the derived interface');
    failNext = 1; // the device is back after one failed attempt
    made[0].die(Object.assign(new Error('no such device'), { code: 'ENODEV' }));
    for (let i = 0; i < 200 && made.length < 2; i++) await new Promise((r) => setTimeout(r, 2));
    assert.equal(made.length, 2, 're-opened');
    assert.deepEqual(events, ['reopened eth1:67 ENODEV: no such device']);
    made[1].sock.inject(discover(7), { address: '0.0.0.0', port: 68 });
    for (let i = 0; i < 200 && made[1].sock.sent.length === 0; i++) await new Promise((r) => setTimeout(r, 2));
    assert.equal(made[1].sock.sent.length, 1, 'the re-opened socket serves');
    failNext = 99; // gone for good
    made[1].die(Object.assign(new Error('no such device'), { code: 'ENODEV' }));
    for (let i = 0; i < 200 && fatal.length === 0; i++) await new Promise((r) => setTimeout(r, 2));
    assert.equal(fatal.length, 1);
    assert.match(
      fatal[0],
      /^dhcp: the socket on eth1 port 67 died \(ENODEV\) and could not be re-opened: .*no such interface; check the interface eth1/,
    );
    assert.equal(events[1], 'failed eth1:67 cannot bind the DHCP socket to interface "eth1": no such interface');
  } finally {
    await server.close();
  }
});

// `ip -j -4 addr show` as iproute2 prints it for a bridge whose only port is a tap no VM has opened
// (NO-CARRIER, operstate DOWN): Node's networkInterfaces() omits it, but the address is the machine's.
const ipAddrNoCarrier = JSON.stringify([
  {
    ifindex: 1,
    ifname: 'lo',
    flags: ['LOOPBACK', 'UP', 'LOWER_UP'],
    operstate: 'UNKNOWN',
    addr_info: [{ family: 'inet', local: '127.0.0.1', prefixlen: 8, scope: 'host', label: 'lo' }],
  },
  {
    ifindex: 3,
    ifname: 'kbr0',
    flags: ['NO-CARRIER', 'BROADCAST', 'MULTICAST', 'UP'],
    operstate: 'DOWN',
    addr_info: [{ family: 'inet', local: '10.86.1.1', prefixlen: 24, scope: 'global', label: 'kbr0' }],
  },
  {
    ifindex: 4,
    ifname: 'eth0',
    flags: ['BROADCAST', 'MULTICAST', 'UP', 'LOWER_UP'],
    operstate: 'UP',
    addr_info: [
      { family: 'inet', local: '192.0.2.2', prefixlen: 24 },
      { family: 'inet6', local: 'fe80::1', prefixlen: 64 },
    ],
  },
  { ifindex: 5, ifname: 'dummy0', flags: ['BROADCAST', 'NOARP'], operstate: 'DOWN', addr_info: [] },
]);

test('local addresses come from iproute2, so an interface without carrier (a bridge before its VM starts) still attaches its subnet', () => {
  const local = parseIpAddrJson(ipAddrNoCarrier);
  assert.deepEqual(local, [
    { interface: 'lo', address: '127.0.0.1' },
    { interface: 'kbr0', address: '10.86.1.1' },
    { interface: 'eth0', address: '192.0.2.2' },
  ]);
  const subnet = sub('10.86.1.0/24', { attached: true });
  assert.equal(resolveSubnetInterfaces([subnet], local)[0].interface, 'kbr0');
});

// The machine description's network rendered for ifupdown and NetworkManager
// (src/machine/render-ifupdown.ts, render-networkmanager.ts), table-driven:
// each description with the stanzas, keyfiles, .link files, needs and
// refusals it must give. The real ifupdown and NetworkManager read these in
// ifupdown.int.test.ts and networkmanager.int.test.ts.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import type { MachineFacts } from './machine-facts.js';
import type { NetworkDescription } from './machine-schema.js';
import type { StackPlan } from './network-model.js';
import { planMachine } from './plan-machine.js';

const macs = ['52:54:00:00:00:01', '52:54:00:00:00:02', '52:54:00:00:00:03'];
const facts: MachineFacts = {
  known: true,
  disks: [],
  macs,
  bootMac: macs[0]!,
  reservedIp: '10.101.1.10',
  subnets: [{ cidr: '10.101.1.0/24', router: '10.101.1.1', dns: ['10.101.1.53'], ntp: ['10.101.1.1'] }],
};
const render = (network: NetworkDescription) => planMachine({ network }, facts).network!;
const file = (s: StackPlan, path: string): string => {
  const f = s.files.find((x) => x.path === path);
  assert.ok(f, `no ${path} among ${s.files.map((x) => x.path).join(', ')}`);
  return f.text;
};
/** The file's lines without the comment header. */
const body = (text: string): string =>
  text
    .split('\n')
    .filter((l) => !l.startsWith('#'))
    .join('\n')
    .trim();

const bondVlanBridge: NetworkDescription = {
  interfaces: [
    { id: 'n0', boot: true },
    { id: 'n1', mac: macs[1]! },
    { id: 'n2', mac: macs[2]!, mtu: 1400 },
  ],
  bonds: [{ id: 'bond0', mode: 'active-backup', members: ['n0', 'n1'], primary: 'n0' }],
  vlans: [{ id: 'v20', vlan: 20, link: 'bond0' }],
  bridges: [{ id: 'br0', members: ['v20'] }],
  addressing: [
    { link: 'bond0', addresses: ['reservation'], gateway: 'reservation' },
    { link: 'br0', addresses: ['192.168.20.5/24', '192.168.21.5/24'], domains: ['lab.example'] },
    { link: 'n2', dhcp: true },
  ],
};

interface Case {
  name: string;
  network: NetworkDescription;
  ifupdown: string;
  /** Keyfile bodies by link id. */
  nm: Record<string, string>;
}

const cases: Case[] = [
  {
    name: 'a static address with DNS and NTP from the reservation on the boot NIC',
    network: {
      interfaces: [{ id: 'n0', boot: true }],
      addressing: [{ link: 'n0', addresses: ['reservation'], gateway: 'reservation' }],
    },
    ifupdown: `auto n0
iface n0 inet static
    address 10.101.1.10/24
    gateway 10.101.1.1
    dns-nameservers 10.101.1.53`,
    nm: {
      n0: `[connection]
id=kiln-n0
uuid=UUID
type=ethernet
autoconnect-priority=100

[ethernet]
mac-address=52:54:00:00:00:01

[ipv4]
address1=10.101.1.10/24,10.101.1.1
dns=10.101.1.53;
method=manual

[ipv6]
method=auto`,
    },
  },
  {
    name: 'an active-backup bond (primary, miimon) carrying a VLAN bridged to br0 with two addresses, a DHCP NIC with an MTU',
    network: bondVlanBridge,
    ifupdown: `allow-bond0 n0
iface n0 inet manual

allow-bond0 n1
iface n1 inet manual

auto n2
iface n2 inet manual
    mtu 1400

iface n2 inet dhcp

auto bond0
iface bond0 inet static
    address 10.101.1.10/24
    gateway 10.101.1.1
    bond-slaves n0 n1
    bond-mode active-backup
    bond-miimon 100
    bond-primary n0
    dns-nameservers 10.101.1.53

auto bond0.20
iface bond0.20 inet manual

auto br0
iface br0 inet static
    address 192.168.20.5/24
    bridge_ports bond0.20
    bridge_stp off
    dns-search lab.example

iface br0 inet static
    address 192.168.21.5/24`,
    nm: {
      n0: `[connection]
id=kiln-n0
uuid=UUID
type=ethernet
autoconnect-priority=100
master=bond0
slave-type=bond

[ethernet]
mac-address=52:54:00:00:00:01`,
      n2: `[connection]
id=kiln-n2
uuid=UUID
type=ethernet
autoconnect-priority=100

[ethernet]
mac-address=52:54:00:00:00:03
mtu=1400

[ipv4]
method=auto

[ipv6]
method=auto`,
      bond0: `[connection]
id=kiln-bond0
uuid=UUID
type=bond
autoconnect-priority=100
interface-name=bond0

[bond]
miimon=100
mode=active-backup
primary=n0

[ipv4]
address1=10.101.1.10/24,10.101.1.1
dns=10.101.1.53;
method=manual

[ipv6]
method=auto`,
      v20: `[connection]
id=kiln-v20
uuid=UUID
type=vlan
autoconnect-priority=100
interface-name=v20
master=br0
slave-type=bridge

[vlan]
id=20
parent=bond0`,
      br0: `[connection]
id=kiln-br0
uuid=UUID
type=bridge
autoconnect-priority=100
interface-name=br0

[bridge]
stp=false

[ipv4]
address1=192.168.20.5/24
address2=192.168.21.5/24
dns-search=lab.example;
method=manual

[ipv6]
method=auto`,
    },
  },
  {
    name: 'an 802.3ad bond with an MTU, a VLAN on a bridge, an unaddressed carrier NIC with a VLAN of its own',
    network: {
      interfaces: [
        { id: 'n0', boot: true },
        { id: 'n1', mac: macs[1]! },
        { id: 'n2', mac: macs[2]! },
      ],
      bonds: [{ id: 'lacp', mode: '802.3ad', members: ['n0', 'n1'], miimonMs: 50, mtu: 9000 }],
      bridges: [{ id: 'br0', members: ['lacp'], stp: true }],
      vlans: [
        { id: 'v30', vlan: 30, link: 'br0', mtu: 1500 },
        { id: 'v40', vlan: 40, link: 'n2' },
      ],
      addressing: [
        { link: 'v30', addresses: ['10.101.30.5/24'], dns: ['10.101.30.53'], ntp: ['ntp.lab'] },
        { link: 'v40', dhcp: true, addresses: ['10.101.40.5/24'] },
      ],
    },
    ifupdown: `allow-lacp n0
iface n0 inet manual

allow-lacp n1
iface n1 inet manual

auto n2
iface n2 inet manual

auto lacp
iface lacp inet manual
    mtu 9000
    bond-slaves n0 n1
    bond-mode 802.3ad
    bond-miimon 50
    bond-lacp-rate fast
    bond-xmit-hash-policy layer3+4

auto br0
iface br0 inet manual
    bridge_ports lacp
    bridge_stp on

auto br0.30
iface br0.30 inet static
    address 10.101.30.5/24
    mtu 1500
    dns-nameservers 10.101.30.53

auto n2.40
iface n2.40 inet dhcp

iface n2.40 inet static
    address 10.101.40.5/24`,
    nm: {
      lacp: `[connection]
id=kiln-lacp
uuid=UUID
type=bond
autoconnect-priority=100
interface-name=lacp
master=br0
slave-type=bridge

[ethernet]
mtu=9000

[bond]
lacp_rate=fast
miimon=50
mode=802.3ad
xmit_hash_policy=layer3+4`,
      br0: `[connection]
id=kiln-br0
uuid=UUID
type=bridge
autoconnect-priority=100
interface-name=br0

[bridge]

[ipv4]
method=disabled

[ipv6]
method=disabled`,
      n2: `[connection]
id=kiln-n2
uuid=UUID
type=ethernet
autoconnect-priority=100

[ethernet]
mac-address=52:54:00:00:00:03

[ipv4]
method=disabled

[ipv6]
method=disabled`,
      v30: `[connection]
id=kiln-v30
uuid=UUID
type=vlan
autoconnect-priority=100
interface-name=v30

[ethernet]
mtu=1500

[vlan]
id=30
parent=br0

[ipv4]
address1=10.101.30.5/24
dns=10.101.30.53;
method=manual

[ipv6]
method=auto`,
      v40: `[connection]
id=kiln-v40
uuid=UUID
type=vlan
autoconnect-priority=100
interface-name=v40

[vlan]
id=40
parent=n2

[ipv4]
address1=10.101.40.5/24
method=auto

[ipv6]
method=auto`,
    },
  },
];

for (const c of cases) {
  test(`ifupdown and NetworkManager: ${c.name}`, () => {
    const n = render(c.network);
    assert.equal(body(file(n.ifupdown, '/etc/network/interfaces.d/kiln')), c.ifupdown);
    for (const [id, want] of Object.entries(c.nm)) {
      const got = file(n.networkManager, `/etc/NetworkManager/system-connections/kiln-${id}.nmconnection`);
      assert.equal(body(got).replace(/^uuid=[0-9a-f-]{36}$/m, 'uuid=UUID'), want, id);
      assert.match(got, /^uuid=[0-9a-f]{8}-[0-9a-f]{4}-5[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/m);
    }
    const keyfiles = n.networkManager.files.filter((f) => f.path.endsWith('.nmconnection'));
    assert.equal(keyfiles.length, n.files.filter((f) => f.name.endsWith('.network')).length, 'a keyfile per link');
    assert.ok(
      keyfiles.every((f) => f.mode === '0600'),
      'NetworkManager ignores keyfiles others can read',
    );
    // Both stacks name every NIC by its permanent MAC.
    for (const s of [n.ifupdown, n.networkManager])
      for (const i of c.network.interfaces) {
        const mac = i.mac ?? facts.bootMac;
        assert.equal(
          body(file(s, `/etc/systemd/network/10-kiln-${i.id}.link`)),
          `[Match]\nPermanentMACAddress=${mac}\n\n[Link]\nName=${i.id}`,
        );
      }
    assert.deepEqual([n.ifupdown.refusals, n.networkManager.refusals], [[], []]);
  });
}

test('the same description and NICs give the same keyfile UUIDs; another host gets others', () => {
  const network: NetworkDescription = {
    interfaces: [{ id: 'n0', boot: true }],
    vlans: [{ id: 'v20', vlan: 20, link: 'n0' }],
    addressing: [{ link: 'v20', dhcp: true }],
  };
  const uuids = (f: MachineFacts) =>
    planMachine({ network }, f)
      .network!.networkManager.files.map((x) => /^uuid=(.*)$/m.exec(x.text)?.[1])
      .filter(Boolean);
  const a = uuids(facts);
  assert.equal(new Set(a).size, 2);
  assert.deepEqual(uuids(facts), a);
  const other = ['52:54:00:00:01:01', '52:54:00:00:01:02', '52:54:00:00:01:03'];
  assert.notDeepEqual(uuids({ ...facts, macs: other, bootMac: other[0]! }).map(String), a);
});

test('what the image must have: udevd for the names, ifenslave for bonds, bridge-utils for bridges, a DHCP client', () => {
  const n = render(bondVlanBridge);
  const reasons = n.ifupdown.needs.map((x) => x.reason);
  assert.equal(reasons.length, 4);
  assert.match(reasons[0]!, /no systemd-udevd/);
  assert.match(reasons.join('\n'), /"n2" asks for DHCP, and the image has no DHCP client/);
  assert.match(reasons.join('\n'), /bond "bond0" needs the ifenslave package/);
  assert.match(reasons.join('\n'), /bridge "br0" needs the bridge-utils package/);
  assert.deepEqual(n.ifupdown.needs.find((x) => /ifenslave/.test(x.reason))!.anyOf, [
    '/etc/network/if-pre-up.d/ifenslave',
  ]);
  assert.deepEqual(
    n.networkManager.needs.map((x) => x.anyOf),
    [['/lib/systemd/systemd-udevd', '/usr/lib/systemd/systemd-udevd']],
  );
});

test('files for the other stacks and for NTP are conditional on the image having them; resolv.conf unless a resolver runs', () => {
  const n = render(bondVlanBridge);
  const cond = (s: StackPlan) =>
    Object.fromEntries(s.files.filter((f) => f.ifAny || f.unlessAny).map((f) => [f.path, f]));
  const i = cond(n.ifupdown);
  assert.deepEqual(Object.keys(i), [
    '/etc/systemd/network/00-kiln-unmanaged-nics.network',
    '/etc/systemd/network/00-kiln-unmanaged-links.network',
    '/etc/NetworkManager/conf.d/10-kiln-unmanaged.conf',
    '/etc/systemd/timesyncd.conf.d/10-kiln.conf',
    '/etc/chrony/sources.d/kiln.sources',
    '/etc/resolv.conf',
  ]);
  assert.equal(
    body(i['/etc/systemd/network/00-kiln-unmanaged-links.network']!.text),
    '[Match]\nName=n0 n1 n2 bond0 bond0.20 br0\n\n[Link]\nUnmanaged=yes',
  );
  assert.equal(
    body(i['/etc/NetworkManager/conf.d/10-kiln-unmanaged.conf']!.text),
    '[keyfile]\nunmanaged-devices=mac:52:54:00:00:00:01;mac:52:54:00:00:00:02;mac:52:54:00:00:00:03;interface-name:n0;interface-name:n1;interface-name:n2;interface-name:bond0;interface-name:bond0.20;interface-name:br0',
  );
  assert.equal(body(i['/etc/systemd/timesyncd.conf.d/10-kiln.conf']!.text), '[Time]\nNTP=10.101.1.1');
  assert.equal(body(i['/etc/chrony/sources.d/kiln.sources']!.text), 'server 10.101.1.1 iburst');
  assert.equal(body(i['/etc/resolv.conf']!.text), 'search lab.example\nnameserver 10.101.1.53');
  assert.ok(i['/etc/resolv.conf']!.unlessAny!.includes('/usr/sbin/resolvconf'));
  const m = cond(n.networkManager);
  assert.equal(m['/etc/NetworkManager/conf.d/10-kiln-unmanaged.conf'], undefined, 'NetworkManager runs them');
  assert.equal(m['/etc/resolv.conf'], undefined, 'NetworkManager writes DNS itself');
  assert.equal(
    body(m['/etc/systemd/network/00-kiln-unmanaged-links.network']!.text),
    '[Match]\nName=n0 n1 n2 bond0 v20 br0\n\n[Link]\nUnmanaged=yes',
  );
});

const refused: Array<[string, NetworkDescription, RegExp, RegExp]> = [
  [
    'a NIC id in the kernel names (a rename would race the kernel)',
    { interfaces: [{ id: 'eth0', boot: true }], addressing: [{ link: 'eth0', dhcp: true }] },
    /^ifupdown images get each NIC named by its id .*"eth0" is a name the kernel gives itself/,
    /^NetworkManager images get each NIC named by its id/,
  ],
  [
    'a gateway beside DHCP with no static address',
    { interfaces: [{ id: 'n0', boot: true }], addressing: [{ link: 'n0', dhcp: true, gateway: '10.101.1.1' }] },
    /^ifupdown takes a DHCP link's default route from DHCP: "n0" has DHCP and gateway 10.101.1.1/,
    /^NetworkManager takes a gateway only beside a static address/,
  ],
  [
    'a static gateway beside DHCP and an address (NetworkManager can: the gateway goes with the address)',
    {
      interfaces: [{ id: 'n0', boot: true }],
      addressing: [{ link: 'n0', dhcp: true, addresses: ['10.101.2.5/24'], gateway: '10.101.2.1' }],
    },
    /^ifupdown takes a DHCP link's default route from DHCP/,
    /^$/,
  ],
  [
    "a VLAN whose ifupdown name (link.vid) passes the kernel's 15 characters",
    {
      interfaces: [{ id: 'uplink-storage1', boot: true }],
      vlans: [{ id: 'v20', vlan: 20, link: 'uplink-storage1' }],
      addressing: [{ link: 'v20', dhcp: true }],
    },
    /^ifupdown names VLAN "v20" uplink-storage1.20 .*longer than the kernel's 15 characters/,
    /^$/,
  ],
];

for (const [name, network, ifupdown, nm] of refused)
  test(`refused per stack: ${name}`, () => {
    const n = render(network);
    assert.equal(n.ifupdown.refusals.length, 1, n.ifupdown.refusals.join('\n'));
    assert.match(n.ifupdown.refusals[0]!, ifupdown);
    assert.match(n.networkManager.refusals.join('\n'), nm);
    assert.ok(n.files.length > 0, 'systemd-networkd does it');
  });

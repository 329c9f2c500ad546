// The machine description's NetworkManager keyfiles as NetworkManager 1.42
// itself reads them, with no daemon: `nmcli --offline connection modify`
// loads a keyfile from stdin with NetworkManager's own keyfile parser,
// verifies and normalises the connection and prints it back (a connection NM
// would refuse fails here, and a key NM drops or changes shows); and
// `nmcli --offline connection add` of the same connection, written the way an
// operator would with nmcli, gives the same keys and values.
// nmcli comes from scripts/install-test-peers.sh (the binary only, no daemon).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import type { MachineFacts } from './machine-facts.js';
import type { NetworkDescription } from './machine-schema.js';
import { planMachine } from './plan-machine.js';

const nmcli = ['/opt/kiln-peers/network-manager/usr/bin/nmcli', '/usr/bin/nmcli'].find((p) => existsSync(p));
const skip = nmcli ? false : 'needs nmcli (scripts/install-test-peers.sh)';

const macs = ['52:54:00:66:00:01', '52:54:00:66:00:02', '52:54:00:66:00:03'];
const facts: MachineFacts = {
  known: true,
  disks: [],
  macs,
  bootMac: macs[0]!,
  reservedIp: '10.101.1.10',
  subnets: [{ cidr: '10.101.1.0/24', router: '10.101.1.1', dns: ['10.101.1.53'] }],
};

const descriptions: Record<string, NetworkDescription> = {
  'active-backup bond + VLAN + bridge': {
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
  },
  '802.3ad bond in a bridge, VLANs on the bridge and on a carrier NIC': {
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
      { link: 'v30', addresses: ['10.101.30.5/24'], dns: ['10.101.30.53', '10.101.30.54'] },
      { link: 'v40', dhcp: true, addresses: ['10.101.40.5/24'], gateway: '10.101.40.1' },
    ],
  },
};

type Ini = Map<string, string>;
/** "section.key" → value, comments and blank lines dropped. */
function ini(text: string): Ini {
  const out: Ini = new Map();
  let section = '';
  for (const line of text.split('\n')) {
    if (line === '' || line.startsWith('#')) continue;
    const s = /^\[(.+)\]$/.exec(line);
    if (s) section = s[1]!;
    else out.set(`${section}.${line.slice(0, line.indexOf('='))}`, line.slice(line.indexOf('=') + 1));
  }
  return out;
}

function nm(args: string[], input = ''): { code: number; out: string; err: string } {
  const r = spawnSync(nmcli!, ['--offline', 'connection', ...args], { input, encoding: 'utf8', timeout: 20_000 });
  // nmcli prints its warnings (a port whose controller it has not seen) on stdout, before the keyfile.
  return { code: r.status ?? -1, out: r.stdout.replace(/^Warning: .*\n/gm, ''), err: r.stderr };
}

const keyfiles = (network: NetworkDescription) =>
  planMachine({ network }, facts).network!.networkManager.files.filter((f) => f.path.endsWith('.nmconnection'));

for (const [name, network] of Object.entries(descriptions))
  test(
    `NetworkManager's keyfile parser loads every keyfile of "${name}" and keeps every key as written`,
    { skip },
    () => {
      for (const f of keyfiles(network)) {
        const r = nm(['modify', 'connection.autoconnect', 'yes'], f.text);
        assert.equal(r.code, 0, `${f.path}: ${r.err}`);
        const back = ini(r.out);
        for (const [k, v] of ini(f.text)) assert.equal(back.get(k), v, `${f.path}: ${k}`);
      }
    },
  );

test('the check is not vacuous: NetworkManager refuses a VLAN keyfile without its parent', { skip }, () => {
  const v20 = keyfiles(descriptions['active-backup bond + VLAN + bridge']!).find((f) =>
    f.path.endsWith('kiln-v20.nmconnection'),
  )!;
  const r = nm(['modify', 'connection.autoconnect', 'yes'], v20.text.replace(/^parent=.*\n/m, ''));
  assert.notEqual(r.code, 0);
  assert.match(r.err, /vlan\.parent/);
});

test('nmcli --offline connection add of the same connections gives the same keys and values', { skip }, () => {
  const files = Object.fromEntries(
    keyfiles(descriptions['active-backup bond + VLAN + bridge']!).map((f) => [
      /kiln-(.*)\.nmconnection$/.exec(f.path)![1]!,
      f.text,
    ]),
  );
  const port = (m: string, kind: string) => ['master', m, 'slave-type', kind];
  const common = (id: string) => ['con-name', `kiln-${id}`, 'connection.autoconnect-priority', '100'];
  const adds: Record<string, string[]> = {
    n0: ['type', 'ethernet', ...common('n0'), 'ethernet.mac-address', macs[0]!, ...port('bond0', 'bond')],
    n1: ['type', 'ethernet', ...common('n1'), 'ethernet.mac-address', macs[1]!, ...port('bond0', 'bond')],
    n2: ['type', 'ethernet', ...common('n2'), 'ethernet.mac-address', macs[2]!, 'mtu', '1400', 'ipv4.method', 'auto'],
    bond0: [
      'type',
      'bond',
      'ifname',
      'bond0',
      ...common('bond0'),
      'bond.options',
      'mode=active-backup,miimon=100,primary=n0',
      'ipv4.method',
      'manual',
      'ipv4.addresses',
      '10.101.1.10/24',
      'ipv4.gateway',
      '10.101.1.1',
      'ipv4.dns',
      '10.101.1.53',
    ],
    v20: ['type', 'vlan', 'ifname', 'v20', ...common('v20'), 'dev', 'bond0', 'id', '20', ...port('br0', 'bridge')],
    br0: [
      'type',
      'bridge',
      'ifname',
      'br0',
      ...common('br0'),
      'stp',
      'no',
      'ipv4.method',
      'manual',
      'ipv4.addresses',
      '192.168.20.5/24,192.168.21.5/24',
      'ipv4.dns-search',
      'lab.example',
    ],
  };
  assert.deepEqual(Object.keys(adds).sort(), Object.keys(files).sort());
  // Keys NetworkManager adds with their defaults, which Kiln leaves out.
  const defaults = /^(connection\.uuid|ipv6\.addr-gen-mode|vlan\.flags)$/;
  for (const [id, args] of Object.entries(adds)) {
    const r = nm(['add', ...args]);
    assert.equal(r.code, 0, `${id}: ${r.err}`);
    const want = [...ini(r.out)].filter(([k]) => !defaults.test(k));
    const got = [...ini(files[id]!)].filter(([k]) => !defaults.test(k));
    assert.deepEqual(got.sort(), want.sort(), id);
  }
});

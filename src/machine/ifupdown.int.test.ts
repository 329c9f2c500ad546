// The machine description's ifupdown rendering as the real ifupdown (Debian's
// ifupdown 0.8 with ifenslave and bridge-utils) reads and runs it.
// Proves: `ifquery` parses every rendered stanza (a bond + VLAN + bridge
// description) with the options Kiln wrote; udev's own net_setup_link
// (`udevadm test-builtin`) names each NIC by the rendered .link file; and in a
// network namespace this test makes, over veth pairs renamed as udev would,
// `ifup -a` brings up a static address with its gateway, a bridge with two
// addresses and a NIC's MTU, then `ifdown -a` takes them down again. A VLAN
// and a bond are brought up only when the kernel has 802.1Q and bonding
// (this CI machine's Firecracker kernel has neither, and no modules: those
// cases say so and are skipped). veth has no permanent MAC, so the .link
// files' PermanentMACAddress= is read as MACAddress= here; real NICs have one.
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { canUseNetns, createNetns, type TestNetns } from '../../test/support/netns.js';
import type { MachineFacts } from './machine-facts.js';
import type { NetworkDescription } from './machine-schema.js';
import type { StackPlan } from './network-model.js';
import { planMachine } from './plan-machine.js';

const ifup = ['/usr/sbin/ifup', '/sbin/ifup'].find((p) => existsSync(p));
const skip = !canUseNetns()
  ? 'needs root for namespaces'
  : !ifup
    ? 'needs ifupdown (scripts/install-test-peers.sh)'
    : !existsSync('/etc/network/if-pre-up.d/bridge') || !existsSync('/etc/network/if-pre-up.d/ifenslave')
      ? 'needs bridge-utils and ifenslave (scripts/install-test-peers.sh)'
      : false;
const work = mkdtempSync(join(tmpdir(), 'kiln-ifupdown-'));
let ns: TestNetns | undefined;
after(() => {
  ns?.remove();
  rmSync(work, { recursive: true, force: true });
});

const macs = ['02:65:01:00:00:01', '02:65:01:00:00:02', '02:65:01:00:00:03', '02:65:01:00:00:04'];
const facts: MachineFacts = {
  known: true,
  disks: [],
  macs,
  bootMac: macs[0]!,
  reservedIp: '10.101.10.2',
  subnets: [{ cidr: '10.101.10.0/24', router: '10.101.10.1', dns: ['10.101.10.53'], ntp: ['10.101.10.1'] }],
};
const stanzas = (s: StackPlan) => s.files.find((f) => f.path === '/etc/network/interfaces.d/kiln')!.text;
const sh = (cmd: string, args: string[]) =>
  execFileSync(cmd, args, { encoding: 'utf8', timeout: 20_000, stdio: ['ignore', 'pipe', 'pipe'] });

test('ifquery parses every rendered stanza of a bond + VLAN + bridge with the options Kiln wrote', { skip }, () => {
  const network: NetworkDescription = {
    interfaces: [
      { id: 'n0', boot: true },
      { id: 'n1', mac: macs[1]! },
      { id: 'n2', mac: macs[2]!, mtu: 1400 },
    ],
    bonds: [{ id: 'bond0', mode: 'active-backup', members: ['n0', 'n1'], primary: 'n0', miimonMs: 200 }],
    vlans: [{ id: 'v20', vlan: 20, link: 'bond0' }],
    bridges: [{ id: 'br0', members: ['v20', 'n2'] }],
    addressing: [
      { link: 'bond0', addresses: ['reservation'], gateway: 'reservation' },
      { link: 'br0', addresses: ['10.101.20.5/24', '10.101.21.5/24'], domains: ['lab.example'] },
    ],
  };
  const file = join(work, 'parse-interfaces');
  writeFileSync(file, stanzas(planMachine({ network }, facts).network!.ifupdown));
  const q = (args: string[]) => sh('ifquery', ['-i', file, '--state-dir', join(work, 'parse-state'), ...args]);
  // ifupdown 0.8 brings up the loopback itself.
  assert.deepEqual(q(['--list', '-a']).trim().split('\n'), ['lo', 'n2', 'bond0', 'bond0.20', 'br0']);
  assert.deepEqual(q(['--list', '--allow', 'bond0']).trim().split('\n'), ['n0', 'n1']);
  // ifquery splits each address into address, netmask and broadcast.
  assert.equal(
    q(['bond0']),
    'address: 10.101.10.2\ngateway: 10.101.10.1\nbond-slaves: n0 n1\nbond-mode: active-backup\nbond-miimon: 200\nbond-primary: n0\ndns-nameservers: 10.101.10.53\nbroadcast: 10.101.10.255\nnetmask: 255.255.255.0\n',
  );
  assert.equal(q(['n2']), 'mtu: 1400\n');
  // Both stanzas of br0: the first with the bridge options, the second only its address.
  assert.equal(
    q(['br0']),
    'address: 10.101.20.5\nbridge_ports: bond0.20 n2\nbridge_stp: off\ndns-search: lab.example\nbroadcast: 10.101.20.255\nnetmask: 255.255.255.0\naddress: 10.101.21.5\nbroadcast: 10.101.21.255\nnetmask: 255.255.255.0\n',
  );
});

test('udev names each NIC by the rendered .link file (net_setup_link)', { skip }, () => {
  const plan = planMachine(
    { network: { interfaces: [{ id: 'n0', boot: true }], addressing: [{ link: 'n0', dhcp: true }] } },
    facts,
  ).network!.ifupdown;
  const dir = join(work, 'links');
  mkdirSync(dir, { recursive: true });
  for (const f of plan.files.filter((x) => x.path.endsWith('.link')))
    writeFileSync(join(dir, f.path.split('/').pop()!), f.text.replace(/^PermanentMACAddress=/m, 'MACAddress='));
  ns ??= createNetns('ifu', '10.101.0.1/30', '10.101.0.2/30');
  ns.exec('ip', ['link', 'add', 'enp0s9', 'address', macs[0]!, 'type', 'veth', 'peer', 'name', 'lk9']);
  const out = ns.exec('sh', [
    '-c',
    `mount --bind ${dir} /etc/systemd/network && udevadm test-builtin net_setup_link /sys/class/net/enp0s9 2>&1`,
  ]);
  assert.match(out, /^ID_NET_LINK_FILE=\/etc\/systemd\/network\/10-kiln-n0\.link$/m);
  assert.match(out, /^ID_NET_NAME=n0$/m);
  ns.exec('ip', ['link', 'del', 'enp0s9']);
});

/** Whether the namespace's kernel makes a device of this kind (no module loading in CI). */
function kernelHas(kind: 'bond' | 'vlan'): boolean {
  const p = `kp${process.pid % 10000}`;
  try {
    ns!.exec('ip', ['link', 'add', 'kpa', 'type', 'veth', 'peer', 'name', 'kpb']);
    ns!.exec('ip', [
      'link',
      'add',
      ...(kind === 'vlan' ? ['link', 'kpa', p, 'type', 'vlan', 'id', '2'] : [p, 'type', 'bond']),
    ]);
    return true;
  } catch {
    return false;
  } finally {
    for (const d of [p, 'kpa'])
      try {
        ns!.exec('ip', ['link', 'del', d]);
      } catch {
        /* not made */
      }
  }
}

test(
  'ifup -a brings up what Kiln rendered on veths named as udev names them; ifdown -a takes it down',
  { skip, timeout: 120_000 },
  async (t) => {
    ns ??= createNetns('ifu', '10.101.0.1/30', '10.101.0.2/30');
    const bonding = kernelHas('bond');
    const vlan = kernelHas('vlan');
    const network: NetworkDescription = {
      interfaces: [
        { id: 'n0', boot: true },
        { id: 'n1', mac: macs[1]!, mtu: 1400 },
        ...(bonding
          ? [
              { id: 'n2', mac: macs[2]! },
              { id: 'n3', mac: macs[3]! },
            ]
          : []),
      ],
      bridges: [{ id: 'br0', members: ['n1'] }],
      ...(bonding
        ? { bonds: [{ id: 'bond0', mode: 'active-backup' as const, members: ['n2', 'n3'], primary: 'n2' }] }
        : {}),
      ...(vlan ? { vlans: [{ id: 'v30', vlan: 30, link: 'n0' }] } : {}),
      addressing: [
        { link: 'n0', addresses: ['reservation'], gateway: 'reservation' },
        { link: 'br0', addresses: ['10.101.11.2/24', '10.101.12.2/24'] },
        ...(vlan ? [{ link: 'v30', addresses: ['10.101.30.2/24'] }] : []),
        ...(bonding ? [{ link: 'bond0', addresses: ['10.101.13.2/24'] }] : []),
      ],
    };
    const plan = planMachine({ network }, facts).network!.ifupdown;
    const file = join(work, 'interfaces');
    writeFileSync(file, stanzas(plan));
    // Each NIC a veth end with its MAC under a kernel-style name, its peer up (carrier); then named as udev would.
    network.interfaces.forEach((i, k) => {
      const mac = i.mac ?? facts.bootMac;
      ns!.exec('ip', ['link', 'add', `enp0s${k + 3}`, 'address', mac, 'type', 'veth', 'peer', 'name', `peer${k}`]);
      ns!.exec('ip', ['link', 'set', `peer${k}`, 'up']);
      ns!.exec('ip', ['link', 'set', `enp0s${k + 3}`, 'name', i.id]);
    });
    const state = join(work, 'state');
    mkdirSync(state, { recursive: true });
    // A private /run and resolv.conf (this command's own mount namespace): ifupdown's hooks keep state there.
    const inNs = (cmd: string) =>
      ns!.exec(
        'sh',
        [
          '-c',
          `exec 2>&1; mount -t tmpfs tmpfs /run && touch ${work}/resolv.conf && mount --bind ${work}/resolv.conf /etc/resolv.conf && ${cmd}`,
        ],
        60_000,
      );
    const up = inNs(`timeout 40 ${ifup} -v -i ${file} --state-dir ${state} -a; echo "exit=$?"`);
    assert.match(up, /exit=0\s*$/, up);
    const addrs = (dev: string) =>
      (
        JSON.parse(ns!.exec('ip', ['-j', 'addr', 'show', 'dev', dev])) as Array<{
          addr_info: Array<{ family: string; local: string; prefixlen: number }>;
          mtu: number;
          master?: string;
          operstate: string;
        }>
      )[0]!;
    const v4 = (dev: string) =>
      addrs(dev)
        .addr_info.filter((a) => a.family === 'inet')
        .map((a) => `${a.local}/${a.prefixlen}`);
    assert.deepEqual(v4('n0'), ['10.101.10.2/24']);
    assert.match(ns.exec('ip', ['route', 'show', 'default']), /^default via 10\.101\.10\.1 dev n0/m);
    assert.deepEqual(v4('br0'), ['10.101.11.2/24', '10.101.12.2/24']);
    assert.equal(addrs('n1').master, 'br0');
    assert.equal(addrs('n1').mtu, 1400);
    await t.test(
      'a VLAN on a NIC',
      { skip: vlan ? false : 'the kernel has no 802.1Q driver (no module to load)' },
      () => {
        assert.deepEqual(v4('n0.30'), ['10.101.30.2/24']);
      },
    );
    await t.test(
      'an active-backup bond',
      { skip: bonding ? false : 'the kernel has no bonding driver (no module to load)' },
      () => {
        assert.deepEqual(v4('bond0'), ['10.101.13.2/24']);
        assert.equal(addrs('n2').master, 'bond0');
        assert.equal(addrs('n3').master, 'bond0');
        assert.match(ns!.exec('cat', ['/sys/class/net/bond0/bonding/primary']), /^n2$/m);
      },
    );
    const down = inNs(`timeout 40 ifdown -i ${file} --state-dir ${state} -a; echo "exit=$?"`);
    assert.match(down, /exit=0\s*$/, down);
    assert.deepEqual(v4('n0'), []);
    assert.equal(ns.exec('ip', ['route', 'show', 'default']), '');
    assert.throws(() => ns!.exec('ip', ['link', 'show', 'br0']), 'bridge-utils removed br0');
  },
);

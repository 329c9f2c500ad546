import assert from 'node:assert/strict';
import { test } from 'node:test';
import { hasCode } from '../error/kiln-error.js';
import type { MachineFacts } from './machine-facts.js';
import { machineFactsFrom } from './machine-facts.js';
import type { MachineDescription } from './machine-schema.js';
import { machinePlanAddresses, parseMachineDescription, planMachine } from './plan-machine.js';

const MiB = 1024 * 1024;
const GiB = 1024 * MiB;
const disk = (name: string, size: number, extra: Partial<MachineFacts['disks'][number]> = {}) => ({
  name,
  sizeBytes: size,
  model: 'QEMU HARDDISK',
  serial: `S-${name}`,
  rotational: true,
  removable: false,
  ...extra,
});
const facts: MachineFacts = {
  known: true,
  disks: [
    disk('vda', 64 * MiB),
    disk('vdb', 64 * MiB),
    disk('sdc', 2 * GiB, { rotational: false, model: 'Samsung SSD' }),
  ],
  macs: ['52:54:00:00:00:01', '52:54:00:00:00:02'],
  bootMac: '52:54:00:00:00:01',
  reservedIp: '10.88.1.10',
  subnets: [{ cidr: '10.88.1.0/24', router: '10.88.1.1', dns: ['10.88.1.53'], ntp: ['10.88.1.1'] }],
};

const mirrored = (d1: object = {}, d2: object = {}): MachineDescription => ({
  storage: {
    disks: [
      {
        id: 'd0',
        match: { maxSize: '1GiB', ...d1 },
        partitions: [
          { id: 'bios0', size: '1MiB', type: 'bios-boot' },
          { id: 'esp0', size: '34MiB', type: 'esp' },
          { id: 'r0', size: 'rest', type: 'raid' },
        ],
      },
      {
        id: 'd1',
        match: { maxSize: '1GiB', ...d2 },
        partitions: [
          { id: 'bios1', size: '1MiB', type: 'bios-boot' },
          { id: 'esp1', size: '34MiB', type: 'esp' },
          { id: 'r1', size: 'rest', type: 'raid' },
        ],
      },
    ],
    raids: [{ id: 'md0', level: 1, members: ['r0', 'r1'] }],
    volumeGroups: [
      {
        id: 'vg0',
        name: 'kiln',
        physical: ['md0'],
        volumes: [
          { id: 'root', name: 'root', size: '12MiB' },
          { id: 'swap', name: 'swap', size: 'rest' },
        ],
      },
    ],
    filesystems: [
      { device: 'esp0', type: 'vfat', mount: '/boot/efi' },
      { device: 'esp1', type: 'vfat', label: 'KILN-ESP2' },
      { device: 'root', type: 'ext4', mount: '/' },
      { device: 'swap', type: 'swap' },
    ],
  },
});

test('a RAID 1 + LVM layout over two disks renders steps in order, the fstab and which disk gets what', () => {
  const d = mirrored();
  (d.storage!.filesystems[1] as { mount?: string }).mount = '/boot/efi2';
  const plan = planMachine(d, facts, { mdBase: 120 });
  const s = plan.storage!;
  assert.deepEqual(
    s.disks.map((x) => [x.id, x.device]),
    [
      ['d0', '/dev/vda'],
      ['d1', '/dev/vdb'],
    ],
  );
  const tools = s.steps.map((x) =>
    'tool' in x ? `${x.tool} ${x.args[0]}` : 'wait' in x ? `wait ${x.wait}` : `key ${x.key}`,
  );
  assert.deepEqual(tools.slice(0, 2), ['sgdisk --zap-all', 'sgdisk --clear']);
  assert.ok(tools.indexOf('mdadm --create') > tools.lastIndexOf('wipefs --all'));
  assert.ok(tools.indexOf('lvm pvcreate') > tools.indexOf('wait /dev/md120'));
  const part = s.steps.find((x) => 'tool' in x && x.args[0] === '--clear') as { args: string[] };
  assert.deepEqual(part.args, [
    '--clear',
    '--new=1:0:+1M',
    '--typecode=1:ef02',
    '--change-name=1:kiln-bios0',
    '--new=2:0:+34M',
    '--typecode=2:ef00',
    '--change-name=2:kiln-esp0',
    '--new=3:0:0',
    '--typecode=3:fd00',
    '--change-name=3:kiln-r0',
    '/dev/vda',
  ]);
  const md = s.steps.find((x) => 'tool' in x && x.tool === 'mdadm') as { args: string[] };
  assert.deepEqual(md.args.slice(-2), ['/dev/vda3', '/dev/vdb3']);
  assert.deepEqual(s.root, { device: '/dev/mapper/kiln-root', type: 'ext4' });
  assert.equal(s.esp, '/dev/vda2');
  assert.deepEqual(s.biosBoot, ['/dev/vda', '/dev/vdb']);
  assert.deepEqual(
    s.mounts.map((m) => m.path),
    ['/', '/boot/efi', '/boot/efi2'],
  );
  assert.match(s.fstab, /^LABEL=kiln-root \/ ext4 errors=remount-ro 0 1$/m);
  assert.match(s.fstab, /^LABEL=swap none swap sw 0 0$/m);
  assert.doesNotMatch(s.fstab, /\t/, 'no tab: json_text on the node ends a value at a line with a tab');
  for (const st of s.steps) if ('tool' in st) for (const a of st.args) assert.match(a, /^[A-Za-z0-9._:/=+,%@-]+$/);
});

/** Table: a description, how it is changed, the issue code expected and words the message must name. */
const unfit: Array<[string, (d: MachineDescription) => MachineDescription, MachineFacts, string, RegExp]> = [
  [
    'no disk matches the model',
    () => mirrored({ model: 'INTEL' }),
    facts,
    'no_disk',
    /disk "d0" \(maxSize=1GiB model=INTEL\) matches none.*vda 64 MiB model "QEMU HARDDISK"/,
  ],
  [
    'serial selects one disk twice',
    () => mirrored({ serial: 'S-vda' }, { serial: 'S-vda' }),
    facts,
    'no_disk_left',
    /disk "d1".*already taken.*vda/,
  ],
  [
    'partitions larger than the disk',
    (d) => {
      d.storage!.disks[0]!.partitions[1]!.size = '100MiB';
      return d;
    },
    facts,
    'disk_too_small',
    /disk "d0" needs at least 104 MiB.*vda 64 MiB/,
  ],
  [
    'minSize above every disk',
    () => mirrored({ minSize: '128MiB' }),
    facts,
    'disk_too_small',
    /needs at least 128 MiB \(match.minSize\)/,
  ],
  [
    'rotational: false picks the SSD only, which is larger than maxSize',
    () => mirrored({ rotational: false }),
    facts,
    'no_disk',
    /disk "d0" \(maxSize=1GiB rotational=false\) matches none/,
  ],
  [
    'two RAID members on one disk',
    (d) => {
      d.storage!.disks[0]!.partitions.push({ id: 'r0b', size: '1MiB', type: 'raid' });
      d.storage!.disks[0]!.partitions[2]!.size = '20MiB';
      d.storage!.raids![0]!.members = ['r0', 'r0b'];
      d.storage!.filesystems.push({ device: 'esp1', type: 'vfat', mount: '/x' });
      return d;
    },
    facts,
    'raid_same_disk',
    /array "md0" puts members "r0" and "r0b" on the same disk vda/,
  ],
  [
    'volumes larger than the array',
    (d) => {
      d.storage!.volumeGroups![0]!.volumes[0]!.size = '60MiB';
      return d;
    },
    facts,
    'volume_group_too_small',
    /volume "root" needs 60 MiB but volume group "vg0" has only/,
  ],
  [
    'no root filesystem',
    (d) => {
      d.storage!.filesystems = d.storage!.filesystems.filter((f) => f.mount !== '/');
      d.storage!.filesystems.push({ device: 'root', type: 'ext4', mount: '/srv' });
      return d;
    },
    facts,
    'no_root',
    /no filesystem is mounted at \//,
  ],
  [
    'a filesystem on a raid partition',
    (d) => {
      d.storage!.raids = [];
      d.storage!.volumeGroups = [];
      d.storage!.filesystems = [{ device: 'r0', type: 'ext4', mount: '/' }];
      return d;
    },
    facts,
    'wrong_partition_type',
    /partition "r0" of type raid; it needs type linux/,
  ],
  [
    'unknown device',
    (d) => {
      d.storage!.filesystems.push({ device: 'nope', type: 'ext4', mount: '/data' });
      return d;
    },
    facts,
    'unknown_device',
    /uses "nope", which is no partition/,
  ],
  [
    "LUKS without Kiln's Tang server",
    (d) => {
      d.storage!.encrypted = [{ id: 'crypt', device: 'r0', unlock: 'tang' }];
      return d;
    },
    facts,
    'tang_unavailable',
    /encrypted volume "crypt" is unlocked at boot by Kiln's Tang server: Kiln's Tang server is off: set tang-listen/,
  ],
  [
    'a host never discovered',
    (d) => d,
    { ...facts, known: false, disks: [] },
    'no_facts',
    /reported no hardware facts/,
  ],
  [
    'an unknown NIC',
    () => ({
      network: { interfaces: [{ id: 'n0', mac: '52:54:00:99:99:99' }], addressing: [{ link: 'n0', dhcp: true }] },
    }),
    facts,
    'unknown_nic',
    /NIC 52:54:00:99:99:99, which the host does not have \(its NICs: 52:54:00:00:00:01, 52:54:00:00:00:02\)/,
  ],
  [
    'an addressed bond member',
    () => ({
      network: {
        interfaces: [{ id: 'n0', boot: true }],
        bonds: [{ id: 'bond0', mode: 'active-backup', members: ['n0'] }],
        addressing: [{ link: 'n0', dhcp: true }],
      },
    }),
    facts,
    'member_addressed',
    /"n0" is a member of bond "bond0": address the bond/,
  ],
  [
    'a reservation the host lacks',
    () => ({
      network: { interfaces: [{ id: 'n0', boot: true }], addressing: [{ link: 'n0', addresses: ['reservation'] }] },
    }),
    { ...facts, reservedIp: '' },
    'no_reservation',
    /has none \(set label dhcp.ip\)/,
  ],
  [
    'a reservation outside every subnet',
    () => ({
      network: { interfaces: [{ id: 'n0', boot: true }], addressing: [{ link: 'n0', addresses: ['reservation'] }] },
    }),
    { ...facts, reservedIp: '192.0.2.9' },
    'no_subnet',
    /192.0.2.9 is in none of Kiln's DHCP subnets \(10.88.1.0\/24\)/,
  ],
  [
    'a VLAN on an unknown link',
    () => ({
      network: {
        interfaces: [{ id: 'n0', boot: true }],
        vlans: [{ id: 'v10', vlan: 10, link: 'bond9' }],
        addressing: [{ link: 'v10', dhcp: true }],
      },
    }),
    facts,
    'unknown_link',
    /VLAN "v10" sits on "bond9", which is no link/,
  ],
];

for (const [name, change, f, code, words] of unfit) {
  test(`refused with layout_unfit/${code}: ${name}`, () => {
    assert.throws(
      () => planMachine(change(mirrored()), f),
      (err) => {
        assert.ok(hasCode(err, 'layout_unfit'), String(err));
        assert.ok(
          err.issues.some((i) => i.code === code),
          JSON.stringify(err.issues),
        );
        assert.match(err.message, words);
        return true;
      },
    );
  });
}

test('model, serial and rotational select the disk the description asks for', () => {
  const d: MachineDescription = {
    storage: {
      disks: [
        {
          id: 'os',
          match: { rotational: false, model: 'samsung' },
          partitions: [
            { id: 'p1', size: '1MiB', type: 'bios-boot' },
            { id: 'p2', size: 'rest', type: 'linux' },
          ],
        },
      ],
      filesystems: [{ device: 'p2', type: 'xfs', mount: '/' }],
    },
  };
  assert.equal(planMachine(d, facts).storage!.disks[0]!.device, '/dev/sdc');
  d.storage!.disks[0]!.match = { serial: 'S-vdb' };
  assert.equal(planMachine(d, facts).storage!.disks[0]!.device, '/dev/vdb');
});

test('network: an active-backup bond of two NICs with the reservation, a VLAN and a bridge render to networkd units', () => {
  const plan = planMachine(
    {
      network: {
        interfaces: [
          { id: 'n0', boot: true },
          { id: 'n1', mac: '52-54-00-00-00-02' },
        ],
        bonds: [{ id: 'bond0', mode: 'active-backup', members: ['n0', 'n1'], primary: 'n0' }],
        vlans: [{ id: 'v20', vlan: 20, link: 'bond0' }],
        bridges: [{ id: 'br0', members: ['v20'] }],
        addressing: [
          { link: 'bond0', addresses: ['reservation'], gateway: 'reservation' },
          { link: 'br0', addresses: ['192.168.20.5/24'], domains: ['lab.example'] },
        ],
      },
    },
    facts,
  );
  const files = Object.fromEntries(plan.network!.files.map((f) => [f.name, f.text]));
  assert.deepEqual(Object.keys(files), [
    '10-kiln-n0.network',
    '10-kiln-n1.network',
    '20-kiln-bond0.netdev',
    '20-kiln-bond0.network',
    '30-kiln-v20.netdev',
    '30-kiln-v20.network',
    '40-kiln-br0.netdev',
    '40-kiln-br0.network',
  ]);
  assert.match(
    files['10-kiln-n0.network']!,
    /PermanentMACAddress=52:54:00:00:00:01\n[\s\S]*Bond=bond0\nPrimarySlave=yes\n/,
  );
  assert.match(files['10-kiln-n1.network']!, /PermanentMACAddress=52:54:00:00:00:02\n[\s\S]*Bond=bond0\n$/);
  assert.match(files['20-kiln-bond0.netdev']!, /Kind=bond\n\n\[Bond\]\nMode=active-backup\nMIIMonitorSec=100ms/);
  assert.match(
    files['20-kiln-bond0.network']!,
    /Name=bond0\n\n\[Network\]\nVLAN=v20\nAddress=10.88.1.10\/24\nGateway=10.88.1.1\nDNS=10.88.1.53\nNTP=10.88.1.1\n$/,
  );
  assert.match(files['30-kiln-v20.netdev']!, /Kind=vlan\n\n\[VLAN\]\nId=20\n$/);
  assert.match(files['30-kiln-v20.network']!, /Bridge=br0\n$/);
  assert.match(files['40-kiln-br0.network']!, /Address=192.168.20.5\/24\nDomains=lab.example\n$/);
  assert.equal(
    plan.network!.resolvConf,
    '# Written by Kiln from the machine description.\nsearch lab.example\nnameserver 10.88.1.53\n',
  );
  assert.deepEqual(plan.network!.macs, ['52:54:00:00:00:01', '52:54:00:00:00:02']);
  assert.deepEqual(plan.network!.addresses, ['10.88.1.10', '192.168.20.5']);
  assert.deepEqual(machinePlanAddresses(JSON.stringify(plan)), ['10.88.1.10', '192.168.20.5']);
  assert.deepEqual(machinePlanAddresses(undefined), []);
  assert.deepEqual(machinePlanAddresses('not json'), []);
  assert.deepEqual(
    machinePlanAddresses(JSON.stringify({ network: { files: [] } })),
    [],
    'a plan kept before addresses',
  );
});

test('parseMachineDescription: YAML in, schema problems out with their paths', () => {
  const d = parseMachineDescription(
    'network:\n  interfaces: [{ id: n0, boot: true }]\n  addressing: [{ link: n0, dhcp: true }]\n',
    'machine.yaml',
  );
  assert.equal(d.network!.interfaces[0]!.id, 'n0');
  assert.throws(
    () => parseMachineDescription('storage:\n  disks: []\n  filesystems: []\n  bogus: 1\n', 'machine.yaml'),
    (err) =>
      hasCode(err, 'validation_failed') && /\/storage\/bogus/.test(err.message) && /\/storage\/disks/.test(err.message),
  );
});

test('machineFactsFrom reads disks and NICs from the stored facts', () => {
  const f = machineFactsFrom(
    {
      facts: {
        disks: [
          { name: 'vda', sizeBytes: 1, model: 'm', serial: null, rotational: false, removable: false },
          { bogus: 1 },
        ],
        nics: [{ mac: '52:54:00:AA:00:02' }],
      },
      nics: [{ mac: '52:54:00:aa:00:01', boot: true }],
      labels: { 'dhcp.ip': '10.88.1.7' },
    },
    [],
  );
  assert.deepEqual(f.disks, [
    { name: 'vda', sizeBytes: 1, model: 'm', serial: '', rotational: false, removable: false },
  ]);
  assert.deepEqual(f.macs, ['52:54:00:aa:00:01', '52:54:00:aa:00:02']);
  assert.equal(f.reservedIp, '10.88.1.7');
});

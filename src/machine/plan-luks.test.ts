import assert from 'node:assert/strict';
import { test } from 'node:test';
import { hasCode } from '../error/kiln-error.js';
import type { MachineFacts } from './machine-facts.js';
import type { MachineDescription } from './machine-schema.js';
import { planMachine } from './plan-machine.js';
import { crypttab, type TangPlanState } from './plan-storage.js';

const MiB = 1024 * 1024;
const disk = (name: string, size: number) => ({
  name,
  sizeBytes: size,
  model: 'QEMU HARDDISK',
  serial: `S-${name}`,
  rotational: true,
  removable: false,
});
const facts: MachineFacts = {
  known: true,
  disks: [disk('vda', 2048 * MiB), disk('vdb', 2048 * MiB)],
  macs: ['52:54:00:00:00:01'],
  bootMac: '52:54:00:00:00:01',
  reservedIp: '',
  subnets: [],
};
const tang: TangPlanState = { kind: 'ready', url: 'http://10.103.0.1:7500', thumbprint: 'T'.repeat(43) };
const uuids = () => {
  let n = 0;
  return () => `00000000-0000-4000-8000-00000000000${n++}`;
};

/** One disk: BIOS boot, ESP, /boot, and the rest encrypted as the root. */
const encryptedRoot = (): MachineDescription => ({
  storage: {
    disks: [
      {
        id: 'd0',
        partitions: [
          { id: 'bios', size: '1MiB', type: 'bios-boot' },
          { id: 'esp', size: '64MiB', type: 'esp' },
          { id: 'boot', size: '512MiB', type: 'linux' },
          { id: 'sys', size: 'rest', type: 'linux' },
        ],
      },
    ],
    encrypted: [{ id: 'croot', device: 'sys', unlock: 'tang' }],
    filesystems: [
      { device: 'esp', type: 'vfat', mount: '/boot/efi' },
      { device: 'boot', type: 'ext4', mount: '/boot' },
      { device: 'croot', type: 'ext4', mount: '/' },
    ],
  },
});

test('an encrypted root: a random key on the node, luksFormat with the chosen UUID, open, then mkfs on the mapper', () => {
  const s = planMachine(encryptedRoot(), facts, { tang, uuid: uuids() }).storage!;
  const luks = s.steps.slice(s.steps.findIndex((x) => 'key' in x));
  assert.deepEqual(luks.slice(0, 4), [
    { key: '/run/kiln/luks/croot.key', about: "making a random key for LUKS volume croot in the node's memory" },
    {
      tool: 'cryptsetup',
      args: [
        'luksFormat',
        '--batch-mode',
        '--type',
        'luks2',
        '--pbkdf',
        'pbkdf2',
        '--pbkdf-force-iterations',
        '1000',
        '--uuid=00000000-0000-4000-8000-000000000000',
        '--label=kiln-croot',
        '--key-file=/run/kiln/luks/croot.key',
        '/dev/vda4',
      ],
      about: 'making LUKS volume croot on /dev/vda4',
    },
    {
      tool: 'cryptsetup',
      args: ['open', '--type', 'luks2', '--key-file=/run/kiln/luks/croot.key', '/dev/vda4', 'croot'],
      about: 'opening LUKS volume croot as /dev/mapper/croot',
    },
    { wait: '/dev/mapper/croot', about: 'waiting for /dev/mapper/croot' },
  ]);
  // The filesystems come after the volume is open; the root is made on the mapper.
  const mkfsRoot = s.steps.findIndex((x) => 'tool' in x && x.tool === 'mke2fs' && x.args.includes('/dev/mapper/croot'));
  assert.ok(mkfsRoot > s.steps.findIndex((x) => 'wait' in x && x.wait === '/dev/mapper/croot'));
  assert.deepEqual(s.root, { device: '/dev/mapper/croot', type: 'ext4' });
  assert.deepEqual(s.encrypted, [
    {
      id: 'croot',
      device: '/dev/vda4',
      uuid: '00000000-0000-4000-8000-000000000000',
      mapper: '/dev/mapper/croot',
      keyFile: '/run/kiln/luks/croot.key',
      clevis: { url: 'http://10.103.0.1:7500', thp: 'T'.repeat(43) },
    },
  ]);
  assert.equal(
    s.crypttab,
    [
      "# Written by the Kiln image writer from the machine description: unlocked at boot by Clevis with Kiln's Tang.",
      'croot UUID=00000000-0000-4000-8000-000000000000 none luks,initramfs',
      '',
    ].join('\n'),
  );
  assert.equal(s.separateBoot, true);
  assert.match(s.fstab, /^LABEL=kiln-boot \/boot ext4 defaults 0 2$/m);
  assert.match(s.fstab, /^LABEL=kiln-root \/ ext4 errors=remount-ro 0 1$/m);
  assert.deepEqual(
    s.mounts.map((m) => [m.path, m.device]),
    [
      ['/', '/dev/mapper/croot'],
      ['/boot', '/dev/vda3'],
      ['/boot/efi', '/dev/vda2'],
    ],
  );
  // storage.sh refuses any argument outside this set.
  for (const st of s.steps) if ('tool' in st) for (const a of st.args) assert.match(a, /^[A-Za-z0-9._:/=+,%@-]+$/);
  // No key, passphrase or secret of any kind is in the plan the controller keeps.
  assert.doesNotMatch(JSON.stringify(s), /passphrase|secret|"d":/);
});

test('LVM on LUKS on RAID 1: the opened volume is the physical volume; the root LV on it needs a /boot of its own', () => {
  const d: MachineDescription = {
    storage: {
      disks: ['d0', 'd1'].map((id, i) => ({
        id,
        partitions: [
          { id: `bios${i}`, size: '1MiB', type: 'bios-boot' as const },
          { id: `boot${i}`, size: '256MiB', type: 'raid' as const },
          { id: `r${i}`, size: 'rest' as const, type: 'raid' as const },
        ],
      })),
      raids: [
        { id: 'mdboot', level: 1, members: ['boot0', 'boot1'] },
        { id: 'md0', level: 1, members: ['r0', 'r1'] },
      ],
      encrypted: [{ id: 'cmd0', device: 'md0', unlock: 'tang' }],
      volumeGroups: [
        { id: 'vg', name: 'sys', physical: ['cmd0'], volumes: [{ id: 'root', name: 'root', size: 'rest' }] },
      ],
      filesystems: [
        { device: 'mdboot', type: 'ext4', mount: '/boot' },
        { device: 'root', type: 'ext4', mount: '/' },
      ],
    },
  };
  const s = planMachine(d, facts, { tang, uuid: uuids() }).storage!;
  const order = s.steps.map((x) =>
    'tool' in x ? `${x.tool} ${x.args[0]}` : 'wait' in x ? `wait ${x.wait}` : `key ${x.key}`,
  );
  const at = (step: string) => order.indexOf(step);
  assert.ok(at('wait /dev/md1') < at('key /run/kiln/luks/cmd0.key'));
  assert.ok(at('cryptsetup open') < at('wait /dev/mapper/cmd0'));
  assert.ok(at('wait /dev/mapper/cmd0') < at('lvm pvcreate'));
  const pv = s.steps.find((x) => 'tool' in x && x.args[0] === 'pvcreate') as { args: string[] };
  assert.equal(pv.args.at(-1), '/dev/mapper/cmd0');
  assert.equal(s.encrypted[0]!.device, '/dev/md1');
  assert.deepEqual(s.root, { device: '/dev/mapper/sys-root', type: 'ext4' });
  assert.equal(s.separateBoot, true);

  d.storage!.filesystems = [{ device: 'root', type: 'ext4', mount: '/' }];
  d.storage!.raids = d.storage!.raids!.slice(1);
  d.storage!.disks.forEach((x) => x.partitions.splice(1, 1));
  assert.throws(
    () => planMachine(d, facts, { tang, uuid: uuids() }),
    (err) =>
      hasCode(err, 'layout_unfit') &&
      err.issues.some((i) => i.code === 'boot_on_luks') &&
      /GRUB cannot open LUKS: add an unencrypted ext4 filesystem mounted at \/boot/.test(err.message),
  );
});

/** Table: how the description is changed, the Tang state, the issue code and words the message must name. */
const refused: Array<[string, (d: MachineDescription) => void, TangPlanState, string, RegExp]> = [
  [
    "tangd missing on the controller: the reason main gives is the message's",
    () => {},
    { kind: 'off', why: "tang-listen is set but Debian's tang package is not installed" },
    'tang_unavailable',
    /encrypted volume "croot" is unlocked at boot by Kiln's Tang server: tang-listen is set but Debian's tang package/,
  ],
  [
    'an encrypted root without a /boot of its own',
    (d) => {
      d.storage!.filesystems.splice(1, 1);
      d.storage!.disks[0]!.partitions.splice(2, 1);
    },
    tang,
    'boot_on_luks',
    /the root filesystem is encrypted and GRUB cannot open LUKS/,
  ],
  [
    '/boot on the encrypted volume',
    (d) => {
      d.storage!.filesystems = [
        { device: 'boot', type: 'ext4', mount: '/' },
        { device: 'croot', type: 'ext4', mount: '/boot' },
        { device: 'esp', type: 'vfat', mount: '/boot/efi' },
      ];
    },
    tang,
    'boot_on_luks',
    /the \/boot filesystem must not be encrypted/,
  ],
  [
    "/boot with another label than GRUB's",
    (d) => {
      (d.storage!.filesystems[1] as { label?: string }).label = 'myboot';
    },
    tang,
    'boot_label',
    /a \/boot filesystem must be ext4 or xfs labelled kiln-boot.*got ext4 "myboot"/,
  ],
  [
    'an encrypted volume nothing uses',
    (d) => {
      d.storage!.encrypted!.push({ id: 'cdata', device: 'boot', unlock: 'tang' });
      d.storage!.filesystems.splice(1, 1);
    },
    tang,
    'unused_device',
    /encrypted volume "cdata" holds no filesystem or volume group/,
  ],
  [
    'LUKS on the ESP',
    (d) => {
      d.storage!.encrypted = [{ id: 'croot', device: 'esp', unlock: 'tang' }];
    },
    tang,
    'wrong_partition_type',
    /encrypted volume "croot" uses partition "esp" of type esp; it needs type linux or lvm/,
  ],
  [
    'an encrypted volume named like a logical volume',
    (d) => {
      d.storage!.encrypted = [{ id: 'sys-root', device: 'sys', unlock: 'tang' }];
      d.storage!.disks[0]!.partitions.push({ id: 'pv', size: '8MiB', type: 'lvm' });
      d.storage!.disks[0]!.partitions.splice(3, 1);
      d.storage!.disks[0]!.partitions.push({ id: 'sys', size: 'rest', type: 'linux' });
      d.storage!.volumeGroups = [
        { id: 'vg', name: 'sys', physical: ['pv'], volumes: [{ id: 'r', name: 'root', size: 'rest' }] },
      ];
      d.storage!.filesystems[2] = { device: 'sys-root', type: 'ext4', mount: '/' };
      d.storage!.filesystems.push({ device: 'r', type: 'ext4', mount: '/srv' });
    },
    tang,
    'mapper_name_twice',
    /would both be \/dev\/mapper\/sys-root; rename one/,
  ],
];

for (const [name, change, state, code, words] of refused) {
  test(`LUKS refused with layout_unfit/${code}: ${name}`, () => {
    const d = encryptedRoot();
    change(d);
    assert.throws(
      () => planMachine(d, facts, { tang: state, uuid: uuids() }),
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

test('no volumes, no crypttab', () => {
  assert.equal(crypttab([]), '');
  const d = encryptedRoot();
  delete d.storage!.encrypted;
  d.storage!.filesystems[2] = { device: 'sys', type: 'ext4', mount: '/' };
  const s = planMachine(d, facts).storage!;
  assert.deepEqual([s.encrypted, s.crypttab, s.separateBoot], [[], '', true]);
});

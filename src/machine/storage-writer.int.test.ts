// The image writer's storage plan (node/agent/storage.sh) run as root under
// busybox ash with the real tools (sgdisk, wipefs, mke2fs, mkfs.fat, mkswap,
// mdadm, lvm) against two 64 MiB sparse files on loop devices, from the plan
// planMachine renders for those disks. The result is read back with sgdisk,
// lsblk, blkid and mdadm --detail. RAID 1 and LVM need the kernel's md and
// device-mapper drivers: on a kernel without them (this CI machine's
// Firecracker kernel has neither) those cases are skipped and say why.
// Everything made is undone in `after` even when a case fails: mounts, md
// arrays, volume groups, loop devices, files.
import { test, after, before } from 'node:test';
import assert from 'node:assert/strict';
import { execFile, execFileSync } from 'node:child_process';
import {
  existsSync,
  mkdirSync,
  mkdtempSync,
  readFileSync,
  rmSync,
  symlinkSync,
  truncateSync,
  writeFileSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { busyboxOnlyPath } from '../../test/support/busybox.js';
import { nodeScriptsDir } from '../discovery/build-discovery-image.js';
import type { MachineFacts } from './machine-facts.js';
import type { MachineDescription } from './machine-schema.js';
import { planMachine } from './plan-machine.js';

const run = promisify(execFile);
const MiB = 1024 * 1024;
const agent = join(nodeScriptsDir, 'agent');
const tools: Record<string, string> = {
  sgdisk: '/usr/sbin/sgdisk',
  partx: '/usr/bin/partx',
  wipefs: '/usr/sbin/wipefs',
  mke2fs: '/usr/sbin/mke2fs',
  'mkfs.vfat': '/usr/sbin/mkfs.fat',
  mkswap: '/usr/sbin/mkswap',
  mdadm: '/usr/sbin/mdadm',
  lvm: '/usr/sbin/lvm',
};
const missing = ['/bin/busybox', '/usr/sbin/losetup', ...Object.values(tools)].filter((t) => !existsSync(t));
const skip =
  process.getuid?.() !== 0
    ? 'needs root (loop devices)'
    : missing.length > 0
      ? `needs ${missing.join(', ')} (gdisk, util-linux, e2fsprogs, dosfstools, mdadm, lvm2)`
      : false;
const hasMd = existsSync('/proc/mdstat');
/** Whether this kernel mounts FAT (this CI machine's does not: the ESP is then made but not mounted). */
const hasVfat = /\tvfat\n/.test(readFileSync('/proc/filesystems', 'utf8'));
const hasDm = existsSync('/sys/class/misc/device-mapper') || existsSync('/dev/mapper/control');

const work = mkdtempSync(join(tmpdir(), 'kiln-storage-'));
const bin = join(work, 'bin');
const loops: string[] = [];
const arrays: string[] = [];
const groups: string[] = [];
const mounted: string[] = [];

function sh(cmd: string): string {
  return execFileSync('/bin/sh', ['-c', cmd], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] });
}

before(() => {
  if (skip) return;
  mkdirSync(bin);
  for (const [name, path] of Object.entries(tools)) symlinkSync(path, join(bin, name));
  for (const f of ['a', 'b']) {
    writeFileSync(join(work, f), '');
    truncateSync(join(work, f), 64 * MiB); // sparse
    loops.push(sh(`losetup -f --show -P ${join(work, f)}`).trim());
  }
});

after(() => {
  const quiet = (cmd: string[]): void => {
    try {
      execFileSync(cmd[0]!, cmd.slice(1), { stdio: 'ignore' });
    } catch {
      /* best effort: the next step may still free the rest */
    }
  };
  for (const m of mounted.reverse()) quiet(['umount', m]);
  for (const g of groups) quiet(['lvm', 'vgremove', '--force', '--force', '--yes', g]);
  for (const a of arrays) quiet(['mdadm', '--stop', a]);
  for (const l of loops) {
    quiet(['wipefs', '--all', '--force', l]);
    quiet(['losetup', '-d', l]);
  }
  rmSync(work, { recursive: true, force: true });
});

const factsFor = (): MachineFacts => ({
  known: true,
  disks: loops.map((l, i) => ({
    name: l.replace('/dev/', ''),
    sizeBytes: 64 * MiB,
    model: '',
    serial: `loop-${i}`,
    rotational: false,
    removable: false,
  })),
  macs: [],
  bootMac: '',
  reservedIp: '',
  subnets: [],
});

/** Runs storage_apply (and storage_mount into `target` when given) under busybox ash with the plan as JSON. */
async function applyPlan(plan: object, target?: string): Promise<string> {
  const planFile = join(work, 'plan.json');
  writeFileSync(planFile, JSON.stringify({ machine: plan }));
  const script = [
    `. ${agent}/lib.sh`,
    `. ${agent}/storage.sh`,
    `FLAT=$(json_flatten < ${planFile}) || exit 1`,
    'storage_apply "$FLAT" || exit 1',
    ...(target ? [`storage_mount "$FLAT" ${target} || exit 1`] : []),
  ].join('\n');
  const { stdout } = await run('/bin/busybox', ['sh', '-c', script], {
    env: {
      PATH: `${busyboxOnlyPath(work)}:/usr/sbin:/sbin`,
      KILN_BIN: bin,
      KILN_LIB: agent,
      KILN_RUN: work,
      KILN_NO_MDEV: '1',
    },
    timeout: 120_000,
  });
  return stdout;
}

/** The disk's partitions (lsblk names) as blkid's low-level probe reads them (no udev database needed). */
function partitions(
  d: string,
): Array<{ name: string; partlabel: string; fstype: string | null; label: string | null }> {
  const names = sh(`lsblk -n -r -o NAME ${d}`)
    .split('\n')
    .filter((n) => n && `/dev/${n}` !== d);
  return names.map((n) => {
    let text: string;
    try {
      text = sh(`blkid -p -o export /dev/${n}`);
    } catch (err) {
      text = String((err as { stdout?: string }).stdout ?? ''); // exit 2: no filesystem, the partition entry still printed
    }
    const v = Object.fromEntries(
      text
        .split('\n')
        .filter((l) => l.includes('='))
        .map((l) => [l.slice(0, l.indexOf('=')), l.slice(l.indexOf('=') + 1)]),
    );
    return { name: n, partlabel: v['PART_ENTRY_NAME'] ?? '', fstype: v['TYPE'] ?? null, label: v['LABEL'] ?? null };
  });
}

test(
  'plain partitions on two loop disks: GPT with BIOS boot, ESP, ext4 root and swap as planned, mounted by the writer',
  { skip, timeout: 120_000 },
  async () => {
    const d: MachineDescription = {
      storage: {
        disks: [
          {
            id: 'os',
            match: { serial: 'loop-0' },
            partitions: [
              { id: 'bios', size: '1MiB', type: 'bios-boot' },
              { id: 'esp', size: '34MiB', type: 'esp' },
              { id: 'root', size: 'rest', type: 'linux' },
            ],
          },
          {
            id: 'data',
            match: { serial: 'loop-1' },
            partitions: [
              { id: 'swap', size: '8MiB', type: 'swap' },
              { id: 'srv', size: 'rest', type: 'linux' },
            ],
          },
        ],
        filesystems: [
          hasVfat
            ? { device: 'esp', type: 'vfat', mount: '/boot/efi' }
            : { device: 'esp', type: 'vfat', label: 'KILN-ESP' },
          { device: 'root', type: 'ext4', mount: '/' },
          { device: 'swap', type: 'swap' },
          { device: 'srv', type: 'ext4', mount: '/srv', label: 'kiln-srv' },
        ],
      },
    };
    const plan = planMachine(d, factsFor());
    const target = join(work, 'target');
    mounted.push(target, ...(hasVfat ? [join(target, 'boot/efi')] : []), join(target, 'srv'));
    const out = await applyPlan(plan, target);
    assert.match(out, /storage: \d+ steps done/);
    assert.match(out, hasVfat ? /storage: 3 filesystems mounted/ : /storage: 2 filesystems mounted/);
    const [a, b] = loops as [string, string];
    assert.deepEqual(
      partitions(a).map((p) => [p.partlabel, p.fstype, p.label]),
      [
        ['kiln-bios', null, null],
        ['kiln-esp', 'vfat', 'KILN-ESP'],
        ['kiln-root', 'ext4', 'kiln-root'],
      ],
    );
    assert.deepEqual(
      partitions(b).map((p) => [p.partlabel, p.fstype, p.label]),
      [
        ['kiln-swap', 'swap', 'swap'],
        ['kiln-srv', 'ext4', 'kiln-srv'],
      ],
    );
    // BIOS boot partition at LBA 2048, 2048 sectors (GRUB's core image is patched for that sector).
    assert.match(sh(`sgdisk -i 1 ${a}`), /First sector: 2048 .*\n.*Last sector: 4095/);
    assert.match(sh(`sgdisk -i 1 ${a}`), /Partition GUID code: 21686148-6449-6E6F-744E-656564454649/);
    assert.match(sh(`blkid -o value -s TYPE ${a}p2`), /^vfat/);
    // The writer's mounts: root first, then the ESP and /srv on it.
    const mounts = readFileSync('/proc/mounts', 'utf8');
    assert.ok(mounts.includes(`${a}p3 ${target} ext4`), mounts);
    if (hasVfat) assert.ok(mounts.includes(`${a}p2 ${join(target, 'boot/efi')} vfat`));
    assert.ok(mounts.includes(`${b}p2 ${join(target, 'srv')} ext4`));
    writeFileSync(join(target, 'srv/hello'), 'x');
    assert.match(plan.storage!.fstab, /LABEL=kiln-srv \/srv ext4 defaults 0 2/);
    for (const m of mounted.splice(0).reverse()) sh(`umount ${m}`);
    // Run again over the written disks: old signatures are wiped, the result is the same.
    await applyPlan(plan);
    assert.deepEqual(
      partitions(a).map((p) => p.label),
      [null, 'KILN-ESP', 'kiln-root'],
    );
  },
);

test(
  'RAID 1 over the two loop disks with LVM on it: mdadm --detail shows a clean 2-disk mirror, the LVs carry ext4 and swap',
  {
    skip:
      skip ||
      (!hasMd || !hasDm
        ? `the kernel has no ${!hasMd ? 'md (RAID)' : ''}${!hasMd && !hasDm ? ' and no ' : ''}${!hasDm ? 'device-mapper (LVM)' : ''} driver`
        : false),
    timeout: 120_000,
  },
  async () => {
    const disk = (id: string, n: number) => ({
      id,
      match: { serial: `loop-${n}` },
      partitions: [
        { id: `bios${n}`, size: '1MiB', type: 'bios-boot' as const },
        { id: `r${n}`, size: 'rest' as const, type: 'raid' as const },
      ],
    });
    const d: MachineDescription = {
      storage: {
        disks: [disk('d0', 0), disk('d1', 1)],
        raids: [{ id: 'md0', level: 1, members: ['r0', 'r1'] }],
        volumeGroups: [
          {
            id: 'vg',
            name: 'kilntest',
            physical: ['md0'],
            volumes: [
              { id: 'root', name: 'root', size: '32MiB' },
              { id: 'swap', name: 'swap', size: 'rest' },
            ],
          },
        ],
        filesystems: [
          { device: 'root', type: 'ext4', mount: '/' },
          { device: 'swap', type: 'swap' },
        ],
      },
    };
    // The writer uses /dev/md0 on the node; here a high number keeps clear of any array the machine has.
    const plan = planMachine(d, factsFor(), { mdBase: 121 });
    d.storage!.raids![0]!.members = ['r0', 'r1'];
    arrays.push('/dev/md121');
    groups.push('kilntest');
    await applyPlan(plan);
    const detail = sh('mdadm --detail /dev/md121');
    assert.match(detail, /Raid Level : raid1/);
    assert.match(detail, /Raid Devices : 2/);
    assert.match(detail, /State : (clean|active)/);
    for (const l of loops) assert.ok(detail.includes(`${l}p2`), detail);
    assert.match(sh('blkid -o value -s TYPE /dev/mapper/kilntest-root'), /^ext4/);
    assert.match(sh('blkid -o value -s LABEL /dev/mapper/kilntest-root'), /^kiln-root/);
    assert.match(sh('blkid -o value -s TYPE /dev/mapper/kilntest-swap'), /^swap/);
  },
);

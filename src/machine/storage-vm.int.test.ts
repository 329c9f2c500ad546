// RAID 1 and LVM from a machine plan on a kernel that has md and
// device-mapper: Kiln's node image (the Debian kernel, busybox, the tools
// build-discovery-image ships in /usr/lib/kiln/bin) booted under QEMU (TCG)
// with two 64 MiB sparse virtio disks. The node's own storage.sh runs the
// plan planMachine renders for those disks (GPT with a BIOS boot partition,
// a RAID 1 array of one partition per disk, a volume group on the array,
// ext4 root and swap volumes), then mounts it; the test reads the result back
// on the VM's console: /proc/mdstat, mdadm --detail, lvm lvs, blkid.
// The development machine's kernel has neither md nor device-mapper, so this
// is where RAID 1 and LVM are proven. The VM, its disks and files are removed
// at the end, also on failure.
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync, truncateSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { buildDiscoveryImage } from '../discovery/build-discovery-image.js';
import type { MachineFacts } from './machine-facts.js';
import type { MachineDescription } from './machine-schema.js';
import { planMachine } from './plan-machine.js';

const MiB = 1024 * 1024;
const qemu = '/usr/bin/qemu-system-x86_64';
const skip = !existsSync(qemu) ? 'needs qemu-system-x86' : process.getuid?.() !== 0 ? 'needs root' : false;
const cacheDir = process.env.KILN_IMAGE_CACHE ?? join(tmpdir(), 'kiln-image-cache');
const work = mkdtempSync(join(tmpdir(), 'kiln-storage-vm-'));
let vm: ChildProcess | undefined;
after(() => {
  if (vm?.pid !== undefined && vm.exitCode === null) process.kill(vm.pid, 'SIGKILL');
  rmSync(work, { recursive: true, force: true });
});

const disk = (id: string, n: number) => ({
  id,
  match: { name: `vd${'ab'[n]}` },
  partitions: [
    { id: `bios${n}`, size: '1MiB', type: 'bios-boot' as const },
    { id: `r${n}`, size: 'rest' as const, type: 'raid' as const },
  ],
});
const description: MachineDescription = {
  storage: {
    disks: [disk('d0', 0), disk('d1', 1)],
    raids: [{ id: 'md0', level: 1, members: ['r0', 'r1'] }],
    volumeGroups: [
      {
        id: 'vg',
        name: 'kiln',
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
const facts: MachineFacts = {
  known: true,
  disks: ['vda', 'vdb'].map((name) => ({
    name,
    sizeBytes: 64 * MiB,
    model: '',
    serial: '',
    rotational: true,
    removable: false,
  })),
  macs: [],
  bootMac: '',
  reservedIp: '',
  subnets: [],
};

test(
  'RAID 1 + LVM in the node image under QEMU: storage.sh makes a 2-disk mirror, a volume group on it, ext4 root and swap, and mounts the root',
  { skip, timeout: 240_000 },
  async () => {
    const plan = planMachine(description, facts);
    const image = await buildDiscoveryImage({ cacheDir });
    for (const f of ['a', 'b']) {
      writeFileSync(join(work, f), '');
      truncateSync(join(work, f), 64 * MiB);
    }
    // The script reaches the VM as a third disk (vdc); the console only types the line that runs it.
    const script = [
      '. /usr/lib/kiln/lib.sh; . /usr/lib/kiln/storage.sh',
      "cat > /tmp/plan.json <<'KILNPLAN'",
      JSON.stringify({ machine: plan }),
      'KILNPLAN',
      'FLAT=$(json_flatten < /tmp/plan.json)',
      'if storage_apply "$FLAT" > /tmp/apply.log 2>&1; then echo KILN-APPLY-OK; else echo KILN-APPLY-FAILED; fi',
      'tail -n 40 /tmp/apply.log',
      'echo KILN-MDSTAT; cat /proc/mdstat',
      'echo KILN-DETAIL; /usr/lib/kiln/bin/mdadm --detail /dev/md0',
      'echo KILN-LVS; DM_DISABLE_UDEV=1 /usr/lib/kiln/bin/lvm lvs --noheadings --units m -o vg_name,lv_name,lv_size 2>/dev/null',
      'echo KILN-BLKID; for d in /dev/mapper/kiln-root /dev/mapper/kiln-swap /dev/vda2; do /usr/lib/kiln/bin/wipefs --no-act $d; done',
      'mkdir -p /t && storage_mount "$FLAT" /t && echo hello > /t/hello && storage_unmount "$FLAT" /t && echo KILN-MOUNT-OK',
      'echo KILN-DONE',
      'poweroff -f',
      '',
    ].join('\n');
    writeFileSync(join(work, 'script'), script);
    truncateSync(join(work, 'script'), MiB);
    vm = spawn(
      qemu,
      [
        '-accel',
        'tcg',
        '-m',
        '512',
        '-nographic',
        '-no-reboot',
        '-kernel',
        image.kernelPath,
        '-initrd',
        image.initrdPath,
        '-append',
        'console=ttyS0 quiet kiln.mode=storage-test panic=-1',
        ...['a', 'b'].flatMap((f) => ['-drive', `file=${join(work, f)},format=raw,if=virtio`]),
        '-drive',
        `file=${join(work, 'script')},format=raw,if=virtio,readonly=on`,
        '-net',
        'none',
      ],
      { stdio: ['pipe', 'pipe', 'pipe'] },
    );
    let out = '';
    let typed = false;
    const done = new Promise<void>((resolve, reject) => {
      const timer = setTimeout(
        () => reject(new Error(`no KILN-DONE within 200 s; console:\n${out.slice(-4000)}`)),
        200_000,
      );
      const read = (b: Buffer): void => {
        out += b.toString('utf8');
        if (!typed && out.includes('starting a shell on the console')) {
          typed = true;
          setTimeout(() => vm!.stdin!.write("tr -d '\\000' < /dev/vdc > /tmp/t.sh; sh /tmp/t.sh\n"), 1000);
        }
      };
      vm!.stdout!.on('data', read);
      vm!.stderr!.on('data', read);
      vm!.on('exit', () => {
        clearTimeout(timer);
        if (out.includes('KILN-DONE')) resolve();
        else reject(new Error(`the VM stopped before KILN-DONE; console:\n${out.slice(-4000)}`));
      });
    });
    await done;
    const section = (name: string): string => out.split(`KILN-${name}`).at(-1)?.split('KILN-')[0] ?? '';
    assert.ok(out.includes('KILN-APPLY-OK'), out.slice(out.indexOf('KILN-APPLY')));
    assert.match(section('MDSTAT'), /md0 : active raid1 vdb2\[1\] vda2\[0\]/);
    const detail = section('DETAIL');
    assert.match(detail, /Raid Level : raid1/);
    assert.match(detail, /Raid Devices : 2/);
    assert.match(detail, /Active Devices : 2/);
    assert.match(detail, /active sync\s+\/dev\/vda2/);
    assert.match(detail, /active sync\s+\/dev\/vdb2/);
    assert.match(section('LVS'), /kiln\s+root\s+32\.00m/);
    assert.match(section('LVS'), /kiln\s+swap\s+\d+\.\d+m/);
    const blkid = section('BLKID');
    // util-linux wipefs --no-act lists each device's signatures: DEVICE OFFSET TYPE UUID LABEL.
    assert.match(blkid, /kiln-root\s+0x438\s+ext4\s+\S+\s+kiln-root/);
    assert.match(blkid, /kiln-swap\s+0xff6\s+swap\s+\S+\s+swap/);
    assert.match(blkid, /vda2\s+0x1000\s+linux_raid_member\s+\S+\s+\S*md0/);
    assert.ok(out.includes('KILN-MOUNT-OK'), out.slice(-2000));
  },
);

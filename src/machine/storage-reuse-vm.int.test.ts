// Object reuse from a Kiln root on LVM on RAID 1 (issue 15): Kiln's node
// image (Debian kernel, busybox, the tools in /usr/lib/kiln/bin) under QEMU
// (TCG) with two 64 MiB virtio disks, booted twice, running the writer's own
// functions (install.sh, objects.sh, storage.sh) against a real controller
// (object and view routes) on 127.0.0.1 that the VM reaches through QEMU's
// user network (10.102.0.0/24: its gateway 10.102.0.2 is the host's loopback;
// the VM is sent nowhere else).
// Boot 1 is a first install of image v1: the object scan finds no Kiln root,
// storage_apply makes GPT + RAID 1 + a volume group + ext4 root, the tarball
// is streamed into it. Boot 2 installs image v2 (one file changed, one
// added): before partitioning, the scan assembles the mirror read-only,
// activates the volume group read-only, mounts the root it finds by label
// read-only and nodev, nosuid, reuses what it holds and stops everything
// again; storage_apply then lays the disks out anew (nothing busy), and the
// root is written from objects: fetched = exactly the changed objects.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync, spawn } from 'node:child_process';
import { createHash } from 'node:crypto';
import { existsSync, mkdirSync, mkdtempSync, rmSync, truncateSync, writeFileSync } from 'node:fs';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { createTestController } from '../../test/support/controller.js';
import { buildDiscoveryImage } from '../discovery/build-discovery-image.js';
import { createImageCatalog } from '../image/image-catalog.js';
import { createImageStore } from '../image/image-store.js';
import { buildInstallPlan } from '../image/install-plan.js';
import type { Host } from '../inventory/host.js';
import type { MachineFacts } from './machine-facts.js';
import type { MachineDescription } from './machine-schema.js';
import { planMachine } from './plan-machine.js';

const MiB = 1024 * 1024;
const qemu = '/usr/bin/qemu-system-x86_64';
const skip = !existsSync(qemu) ? 'needs qemu-system-x86' : process.getuid?.() !== 0 ? 'needs root' : false;
const cacheDir = process.env['KILN_IMAGE_CACHE'] ?? join(tmpdir(), 'kiln-image-cache');
const work = mkdtempSync(join(tmpdir(), 'kiln-storage-reuse-'));
const children: number[] = [];
let controller: Awaited<ReturnType<typeof createTestController>> | undefined;
let port = 0;
/** The controller as the VM sees it: QEMU's user network maps its gateway to the host's 127.0.0.1. */
const guestUrl = () => `http://10.102.0.2:${port}`;

before(async () => {
  if (skip) return;
  controller = await createTestController({ boot: { imagesDir: join(work, 'images') } });
  await controller.app.listen({ host: '127.0.0.1', port: 0 });
  port = (controller.app.server.address() as AddressInfo).port;
});
after(async () => {
  for (const pid of children)
    try {
      process.kill(pid, 'SIGKILL');
    } catch {
      /* already gone */
    }
  await controller?.close();
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

/** Deterministic bytes (a counter hashed), so objects are distinct and incompressible. */
function bytes(seed: string, size: number): Buffer {
  const out = Buffer.alloc(size);
  for (let at = 0, i = 0; at < size; i++) at += createHash('sha256').update(`${seed}:${i}`).digest().copy(out, at);
  return out;
}

/** A root of 16 files (24 KiB–1.5 MiB, about 8 MiB), as a tarball imported as image `name`; `changed` adds and alters. */
async function image(name: string, changed: boolean): Promise<void> {
  const root = join(work, `root-${name}`);
  const put = (path: string, data: Buffer) => {
    mkdirSync(dirname(join(root, path)), { recursive: true });
    writeFileSync(join(root, path), data);
  };
  for (let i = 0; i < 16; i++) put(`usr/lib/kiln-test/f${i}`, bytes(`f${i}`, 24 * 1024 + i * 100 * 1024));
  put('etc/os-release', Buffer.from('NAME=Kiln reuse test\n'));
  if (changed) {
    put('usr/lib/kiln-test/f3', bytes('f3-changed', 24 * 1024 + 300 * 1024));
    put('usr/lib/kiln-test/added', bytes('added', 200 * 1024));
  }
  const tarball = join(work, `${name}.tar.gz`);
  execFileSync('tar', ['-C', root, '--numeric-owner', '-czf', tarball, '.']);
  await createImageCatalog(createImageStore(join(work, 'images'))).importImage(name, tarball);
}

/** The writer's plan for `name` with the machine plan, as the VM fetches it from the controller. */
function planFor(name: string): string {
  const img = createImageStore(join(work, 'images')).get(name);
  const host = { name: 'reuse-vm', firmware: 'bios' } as Host;
  const plan = buildInstallPlan({ name }, img, host, { baseUrl: guestUrl(), apiUrl: guestUrl(), caPem: '' });
  return JSON.stringify({ ...plan, layout: 'machine', machine: planMachine(description, facts) });
}

/**
 * One boot of the node image on the two disks; `body` runs after the writer's
 * functions are sourced, the plan is in $PLAN and eth0 has 10.102.0.15.
 * Returns the console output (bounded: 240 s).
 */
async function boot(name: string, plan: string, body: string[]): Promise<string> {
  const nodeImage = await buildDiscoveryImage({ cacheDir });
  const script = [
    'export KILN_RUN=/tmp/kr KILN_TARGET=/t; mkdir -p /tmp/kr /t',
    '. /usr/lib/kiln/lib.sh; . /usr/lib/kiln/install.sh; . /usr/lib/kiln/objects.sh; . /usr/lib/kiln/storage.sh',
    "cat > /tmp/plan.json <<'KILNPLAN'",
    plan,
    'KILNPLAN',
    'PLAN=$(json_flatten < /tmp/plan.json)',
    'nic=$(ls /sys/class/net | grep -v "^lo$" | head -n 1); ip link set "$nic" up; ip addr add 10.102.0.15/24 dev "$nic"',
    ...body,
    'echo KILN-DONE',
    'sync; poweroff -f',
    '',
  ].join('\n');
  writeFileSync(join(work, 'script'), script);
  truncateSync(join(work, 'script'), 2 * MiB);
  const vm = spawn(
    qemu,
    [
      '-accel',
      'tcg',
      '-m',
      '512',
      '-nographic',
      '-no-reboot',
      '-kernel',
      nodeImage.kernelPath,
      '-initrd',
      nodeImage.initrdPath,
      '-append',
      'console=ttyS0 quiet kiln.mode=storage-test panic=-1',
      ...['a', 'b'].flatMap((f) => ['-drive', `file=${join(work, f)},format=raw,if=virtio`]),
      '-drive',
      `file=${join(work, 'script')},format=raw,if=virtio,readonly=on`,
      '-netdev',
      'user,id=n0,net=10.102.0.0/24',
      '-device',
      'virtio-net-pci,netdev=n0,romfile=',
    ],
    { stdio: ['pipe', 'pipe', 'pipe'] },
  );
  if (vm.pid !== undefined) children.push(vm.pid);
  let out = '';
  let typed = false;
  await new Promise<void>((resolve, reject) => {
    const timer = setTimeout(() => {
      vm.kill('SIGKILL');
      reject(new Error(`${name}: no KILN-DONE within 240 s; console:\n${out.slice(-6000)}`));
    }, 240_000);
    const read = (b: Buffer): void => {
      out += b.toString('utf8');
      if (!typed && out.includes('starting a shell on the console')) {
        typed = true;
        setTimeout(() => vm.stdin.write("tr -d '\\000' < /dev/vdc > /tmp/t.sh; sh /tmp/t.sh\n"), 1000);
      }
    };
    vm.stdout.on('data', read);
    vm.stderr.on('data', read);
    vm.on('exit', () => {
      clearTimeout(timer);
      if (out.includes('KILN-DONE')) resolve();
      else reject(new Error(`${name}: the VM stopped before KILN-DONE; console:\n${out.slice(-6000)}`));
    });
  });
  return out;
}

/** The text between the markers KILN-<name> and the next KILN-. */
const section = (out: string, name: string): string => out.split(`KILN-${name}`).at(-1)?.split('KILN-')[0] ?? '';

test(
  'reuse from a root on LVM on RAID 1: the second install assembles the mirror and the volume group read-only, reuses the root’s objects, stops both, lays out the disks again and fetches only the changed objects',
  { skip, timeout: 600_000 },
  async () => {
    await image('v1', false);
    await image('v2', true);
    for (const f of ['a', 'b']) {
      writeFileSync(join(work, f), '');
      truncateSync(join(work, f), 64 * MiB);
    }
    const first = await boot('boot 1 (first install of v1)', planFor('v1'), [
      'echo KILN-PREPARE; objects_prepare; echo "rc=$?"',
      'if storage_apply "$PLAN" > /tmp/apply.log 2>&1 && storage_mount "$PLAN" /t; then echo KILN-APPLY-OK; else tail -n 30 /tmp/apply.log; fi',
      'unpack_image "$(plan_get image.url)" "$(plan_get image.sha256)" "$(plan_get image.format)" && echo KILN-UNPACK-OK',
      'ls -l /t/usr/lib/kiln-test | head -n 5',
      'storage_unmount "$PLAN" /t && echo KILN-UNMOUNT-OK',
    ]);
    assert.match(section(first, 'PREPARE'), /no Kiln root filesystem on this machine/);
    assert.match(section(first, 'PREPARE'), /streaming the tarball/);
    for (const m of ['APPLY-OK', 'UNPACK-OK', 'UNMOUNT-OK']) assert.ok(first.includes(`KILN-${m}`), first.slice(-4000));

    const second = await boot('boot 2 (reinstall of v2)', planFor('v2'), [
      // What the scan saw at the moment it mounted the old root (mount is a busybox applet; `command` bypasses this function).
      'mount() { case "$*" in *ro,nodev,nosuid*) { echo "mount $*"; cat /proc/mdstat; for r in /sys/block/dm-*/ro; do echo "$r $(cat $r)"; done; } > /tmp/scan-state ;; esac; command mount "$@"; }',
      'echo KILN-PREPARE; objects_prepare; echo "rc=$?"',
      'echo KILN-SCANSTATE; cat /tmp/scan-state',
      'echo KILN-AFTERSCAN; cat /proc/mdstat; ls /dev/mapper',
      'if storage_apply "$PLAN" > /tmp/apply.log 2>&1 && storage_mount "$PLAN" /t; then echo KILN-APPLY-OK; else tail -n 30 /tmp/apply.log; fi',
      'objects_write && echo KILN-WRITE-OK',
      'echo KILN-SUMS; cd /t && sha256sum usr/lib/kiln-test/f3 usr/lib/kiln-test/added usr/lib/kiln-test/f9; cd /',
      'storage_unmount "$PLAN" /t && echo KILN-UNMOUNT-OK',
      'echo KILN-MDSTAT; cat /proc/mdstat',
    ]);
    const prepare = section(second, 'PREPARE');
    assert.match(prepare, /assembled \/dev\/md\d+ read-only for the object scan/);
    assert.match(prepare, /activated volume groups kiln read-only for the object scan/);
    assert.match(prepare, /scanned \/dev\/(mapper\/kiln-root|dm-\d+|kiln\/root)/);
    assert.match(prepare, /stopped what the object scan started: kiln md\d+/);
    assert.match(prepare, /rc=0/);
    const state = section(second, 'SCANSTATE');
    assert.match(state, /-t ext4 -o ro,nodev,nosuid,noexec,noload \/dev\/(mapper\/kiln-root|dm-\d+|kiln\/root) /);
    assert.match(state, /md\d+ : active \(read-only\) raid1 vd[ab]2\[\d\] vd[ab]2\[\d\]/);
    assert.match(state, /\/sys\/block\/dm-\d+\/ro 1/);
    assert.doesNotMatch(state, /\/ro 0/, 'every volume of the old group was active read-only');
    const afterScan = section(second, 'AFTERSCAN');
    assert.doesNotMatch(afterScan, /^md\d+ :/m, `no array left running before partitioning:\n${afterScan}`);
    assert.doesNotMatch(afterScan, /kiln-/, `no volume left active before partitioning:\n${afterScan}`);

    // v2 against v1: f3 changed (324 KiB), `added` is new (200 KiB); the other 16 objects are on the old root.
    const counted =
      /objects: fetched (\d+) bytes \((\d+) objects, \d+ packs, \d+ single\) and reused (\d+) bytes \((\d+) objects\) of (\d+)/.exec(
        prepare,
      );
    assert.ok(counted, prepare);
    const [fetchedBytes, fetchedObjects, reusedBytes, reusedObjects, total] = counted.slice(1).map(Number) as [
      number,
      number,
      number,
      number,
      number,
    ];
    assert.equal(fetchedObjects, 2, prepare);
    assert.equal(fetchedBytes, 324 * 1024 + 200 * 1024, prepare);
    assert.equal(reusedObjects, 16, prepare);
    assert.ok(reusedBytes > 0);
    assert.equal(fetchedBytes + reusedBytes, total);
    process.stderr.write(`storage reuse: ${counted[0]}\n`);

    for (const m of ['APPLY-OK', 'WRITE-OK', 'UNMOUNT-OK'])
      assert.ok(second.includes(`KILN-${m}`), second.slice(-4000));
    const sum = (b: Buffer) => createHash('sha256').update(b).digest('hex');
    const sums = section(second, 'SUMS');
    assert.ok(sums.includes(`${sum(bytes('f3-changed', 24 * 1024 + 300 * 1024))}  usr/lib/kiln-test/f3`), sums);
    assert.ok(sums.includes(`${sum(bytes('added', 200 * 1024))}  usr/lib/kiln-test/added`), sums);
    assert.ok(sums.includes(`${sum(bytes('f9', 24 * 1024 + 900 * 1024))}  usr/lib/kiln-test/f9`), sums);
    assert.match(section(second, 'MDSTAT'), /md0 : active/);
  },
);

// The image writer's LUKS steps (node/agent/storage.sh storage_key and the
// cryptsetup steps; node/agent/luks.sh luks_bind_one) run as root under
// busybox ash with the real cryptsetup and Clevis against Kiln's own Tang
// server, on a partition of a sparse file on a loop device, from the plan
// planMachine renders. Every step here works on the LUKS header alone, so it
// needs no device-mapper (this CI kernel has none): the volume is made but
// never opened; opening it, the filesystem on it, crypttab and the initramfs
// are proven under QEMU by scripts/luks-e2e.sh. The "written root" chrooted
// into is this machine's own (/), which has clevis and cryptsetup.
import { test, after, before } from 'node:test';
import assert from 'node:assert/strict';
import { execFile, execFileSync } from 'node:child_process';
import {
  existsSync,
  mkdirSync,
  mkdtempSync,
  readFileSync,
  rmSync,
  statSync,
  symlinkSync,
  truncateSync,
  writeFileSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { busyboxOnlyPath } from '../../test/support/busybox.js';
import { nodeScriptsDir } from '../discovery/build-discovery-image.js';
import { silentLogger } from '../log/logger.js';
import { ensureTangKeys, TANGD } from '../tang/tang-keys.js';
import { startTang, type RunningTang } from '../tang/tang-server.js';
import type { MachineDescription } from './machine-schema.js';
import { planMachine } from './plan-machine.js';
import type { StoragePlan } from './plan-storage.js';

const run = promisify(execFile);
const MiB = 1024 * 1024;
const agent = join(nodeScriptsDir, 'agent');
const tools: Record<string, string> = {
  sgdisk: '/usr/sbin/sgdisk',
  partx: '/usr/bin/partx',
  wipefs: '/usr/sbin/wipefs',
  cryptsetup: '/usr/sbin/cryptsetup',
};
const needs = ['/bin/busybox', '/usr/sbin/losetup', '/usr/bin/clevis-luks-bind', TANGD, ...Object.values(tools)];
const missing = needs.filter((t) => !existsSync(t));
const skip =
  process.getuid?.() !== 0
    ? 'needs root (loop devices, chroot)'
    : missing.length > 0
      ? `needs ${missing.join(', ')} (gdisk, util-linux, cryptsetup-bin, clevis-luks, tang)`
      : false;

const work = mkdtempSync(join(tmpdir(), 'kiln-luks-'));
const bin = join(work, 'bin');
let loop = '';
let tang: RunningTang | undefined;
let thumbprint = '';

function sh(cmd: string): string {
  return execFileSync('/bin/sh', ['-c', cmd], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] });
}

before(async () => {
  if (skip) return;
  mkdirSync(bin);
  for (const [name, path] of Object.entries(tools)) symlinkSync(path, join(bin, name));
  writeFileSync(join(work, 'disk'), '');
  truncateSync(join(work, 'disk'), 64 * MiB);
  loop = sh(`losetup -f --show -P ${join(work, 'disk')}`).trim();
  mkdirSync(join(work, 'tang'), { mode: 0o700 });
  thumbprint = await ensureTangKeys(join(work, 'tang'));
  tang = await startTang({ host: '127.0.0.1', port: 0, keysDir: join(work, 'tang'), log: silentLogger });
});

after(async () => {
  await tang?.close();
  rmSync('/run/kiln/luks/croot.key', { force: true });
  if (loop) execFileSync('losetup', ['-d', loop], { stdio: 'ignore' });
  rmSync(work, { recursive: true, force: true });
});

/** Runs SCRIPT under busybox ash with lib.sh, storage.sh and luks.sh sourced and the plan flattened in $FLAT. */
async function agentSh(plan: StoragePlan, script: string): Promise<{ ok: boolean; out: string }> {
  const planFile = join(work, 'plan.json');
  writeFileSync(planFile, JSON.stringify({ machine: { storage: plan } }));
  const text = [
    `. ${agent}/lib.sh`,
    `. ${agent}/storage.sh`,
    `. ${agent}/luks.sh`,
    `FLAT=$(json_flatten < ${planFile}) || exit 1`,
    script,
  ].join('\n');
  try {
    const { stdout, stderr } = await run('/bin/busybox', ['sh', '-c', text], {
      env: {
        PATH: `${busyboxOnlyPath(work)}:/usr/sbin:/sbin`,
        KILN_BIN: bin,
        KILN_LIB: agent,
        KILN_RUN: work,
        KILN_NO_MDEV: '1',
      },
      timeout: 120_000,
    });
    return { ok: true, out: stdout + stderr };
  } catch (err) {
    const e = err as { stdout?: string; stderr?: string };
    return { ok: false, out: `${e.stdout ?? ''}${e.stderr ?? ''}` };
  }
}

const description: MachineDescription = {
  storage: {
    disks: [
      {
        id: 'd0',
        partitions: [
          { id: 'boot', size: '8MiB', type: 'linux' },
          { id: 'sys', size: 'rest', type: 'linux' },
        ],
      },
    ],
    encrypted: [{ id: 'croot', device: 'sys', unlock: 'tang' }],
    filesystems: [
      { device: 'boot', type: 'ext4', mount: '/boot' },
      { device: 'croot', type: 'ext4', mount: '/' },
    ],
  },
};

test(
  "LUKS on a loop device: a random key made on the node, luksFormat from the plan, bound to Kiln's Tang by Clevis; then only the Clevis slot is left and the key is gone",
  { skip, timeout: 180_000 },
  async () => {
    const facts = {
      known: true,
      disks: [
        {
          name: loop.replace('/dev/', ''),
          sizeBytes: 64 * MiB,
          model: '',
          serial: 'l0',
          rotational: false,
          removable: false,
        },
      ],
      macs: [],
      bootMac: '',
      reservedIp: '',
      subnets: [],
    };
    const url = `http://127.0.0.1:${tang!.port}`;
    const plan = planMachine(description, facts, { tang: { kind: 'ready', url, thumbprint } }).storage!;
    const dev = plan.encrypted[0]!.device;
    assert.equal(dev, `${loop}p2`);
    // Up to the open, which needs device-mapper.
    const upTo = plan.steps.findIndex((s) => 'tool' in s && s.tool === 'cryptsetup' && s.args[0] === 'open');
    const made = await agentSh({ ...plan, steps: plan.steps.slice(0, upTo) }, 'storage_apply "$FLAT"');
    assert.ok(made.ok, made.out);
    assert.match(made.out, /making a random key for LUKS volume croot/);
    const key = readFileSync('/run/kiln/luks/croot.key', 'utf8');
    assert.match(key, /^[0-9a-f]{96}$/, '384 random bits as hex');
    assert.equal(statSync('/run/kiln/luks/croot.key').mode & 0o777, 0o600);
    const dump0 = sh(`cryptsetup luksDump ${dev}`);
    assert.match(dump0, new RegExp(`UUID:\\s+${plan.encrypted[0]!.uuid}`));
    assert.match(dump0, /Label:\s+kiln-croot/);

    // The install's last check reads the header back from the disk: without Clevis's token it fails the install.
    const unbound = await agentSh(plan, 'luks_check_headers "$FLAT"');
    assert.ok(!unbound.ok, unbound.out);
    assert.match(unbound.out, new RegExp(`volume croot \\(${dev}\\): the LUKS header on the disk has no Clevis token`));

    // A binding pinned to another thumbprint fails before anything is removed: the random key still opens it.
    const wrong = await agentSh(
      { ...plan, encrypted: [{ ...plan.encrypted[0]!, clevis: { url, thp: 'A'.repeat(43) } }] },
      'luks_bind_one "$FLAT" / 0',
    );
    assert.ok(!wrong.ok);
    assert.match(wrong.out, /volume croot: clevis luks bind to http:\/\/127\.0\.0\.1:\d+ failed/);
    sh(`cryptsetup open --test-passphrase --key-file /run/kiln/luks/croot.key ${dev}`);

    const bound = await agentSh(plan, 'luks_bind_one "$FLAT" / 0 && luks_wipe_keys');
    assert.ok(bound.ok, bound.out);
    assert.match(
      bound.out,
      new RegExp(
        `volume croot \\(${dev}\\): bound to Tang at ${url} \\(thp ${thumbprint}\\), slot 1; the random key's slot is removed`,
      ),
    );
    assert.ok(!existsSync('/run/kiln/luks/croot.key'), 'the key file is removed');
    const checked = await agentSh(plan, 'luks_check_headers "$FLAT"');
    assert.ok(checked.ok, checked.out);
    assert.match(
      checked.out,
      /volume croot \(.+\): the header on the disk holds Clevis's token and slot only \(epoch \d+\)/,
    );
    const dump = sh(`cryptsetup luksDump ${dev}`);
    const slots = dump.split('Keyslots:')[1]!.split('Tokens:')[0]!;
    assert.deepEqual(slots.match(/^ {2}\d+: \w+/gm), ['  1: luks2'], 'only the Clevis slot is left');
    assert.match(dump.split('Tokens:')[1]!, /^ {2}0: clevis/m);
    assert.match(sh(`clevis luks list -d ${dev}`), new RegExp(`1: tang '\\{"url":"${url}"`));
    // The old random key opens nothing now.
    writeFileSync(join(work, 'old.key'), key, { mode: 0o600 });
    assert.throws(() => sh(`cryptsetup open --test-passphrase --key-file ${join(work, 'old.key')} ${dev}`));
    // As the initramfs does: Clevis recovers the passphrase through Tang, and it opens the volume.
    await run('/bin/sh', [
      '-c',
      `clevis luks pass -d ${dev} -s 1 | cryptsetup open --test-passphrase --key-file - ${dev}`,
    ]);
    // Without Kiln's Tang, nothing opens it (at boot: the initramfs keeps waiting).
    await tang!.close();
    tang = undefined;
    await assert.rejects(
      run('/bin/sh', ['-c', `clevis luks pass -d ${dev} -s 1 | cryptsetup open --test-passphrase --key-file - ${dev}`]),
    );
  },
);

test(
  'luks_finish refuses an image without Clevis and cryptsetup-initramfs, naming the packages, and wipes the keys',
  { skip },
  async () => {
    const root = join(work, 'bare-root');
    mkdirSync(join(root, 'usr/bin'), { recursive: true });
    mkdirSync('/run/kiln/luks', { recursive: true, mode: 0o700 });
    writeFileSync('/run/kiln/luks/croot.key', 'x'.repeat(96), { mode: 0o600 });
    const plan = {
      encrypted: [
        {
          id: 'croot',
          device: '/dev/null',
          uuid: 'u',
          mapper: '/dev/mapper/croot',
          keyFile: '/run/kiln/luks/croot.key',
          clevis: { url: 'http://127.0.0.1:1', thp: 'x' },
        },
      ],
    } as unknown as StoragePlan;
    const r = await agentSh(plan, `luks_finish "$FLAT" ${root}`);
    assert.ok(!r.ok);
    assert.match(
      r.out,
      /the image lacks \/usr\/bin\/clevis-luks-bind: build it with the packages cryptsetup-initramfs clevis-luks clevis-initramfs/,
    );
    assert.ok(!existsSync('/run/kiln/luks/croot.key'));
  },
);

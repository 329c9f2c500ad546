// Builds the discovery initramfs (discover, install and wipe modes) from the
// Debian kernel and busybox-static packages, Kiln's node scripts (node/), a few
// host tools for the image writer and the GRUB images. The result is cached
// under a hash of every input, so a second build returns at once.
import { createHash } from 'node:crypto';
import {
  chmodSync,
  copyFileSync,
  existsSync,
  mkdirSync,
  readdirSync,
  readFileSync,
  renameSync,
  rmSync,
  writeFileSync,
} from 'node:fs';
import { join } from 'node:path';
import { KilnError } from '../error/kiln-error.js';
import { silentLogger, type Logger } from '../log/logger.js';
import { packagePath } from '../runtime/package-path.js';
import { buildGrubImages, grubEarlyConfig, grubModules } from './grub-images.js';
import { stageHostBinary, writeInitramfs } from './initramfs-tree.js';
import { prepareBusybox, prepareKernel, stageBusybox, stageModules } from './kernel-tree.js';
import { withToolSignal } from '../process/run-tool.js';

/** Where the node scripts live in the repository (node/). */
export const nodeScriptsDir = packagePath('node/');

/** Drivers shipped in the discovery image; their dependencies are added from modules.dep. */
export const discoveryModules = [
  // NICs
  'virtio_pci',
  'virtio_net',
  'e1000',
  'e1000e',
  'igb',
  'igc',
  'ixgbe',
  'i40e',
  'r8169',
  'tg3',
  'bnx2',
  'bnxt_en',
  'mlx4_en',
  'mlx5_core',
  'vmxnet3',
  'af_packet',
  // disks and controllers
  'virtio_blk',
  'virtio_scsi',
  'ahci',
  'ata_piix',
  'nvme',
  'sd_mod',
  'sr_mod',
  'megaraid_sas',
  'mpt3sas',
  'hpsa',
  'smartpqi',
  // BMC
  'ipmi_si',
  'ipmi_devintf',
  'ipmi_ssif',
  // filesystems the writer makes and mounts
  'ext4',
  'vfat',
  'nls_cp437',
  'nls_ascii',
  'nls_utf8',
  'nls_iso8859_1',
  'crc32c_generic',
  'crc32c_intel',
  'efivarfs',
  // stateless images (node/agent/stateless.sh): the squashfs root on a loop device under a tmpfs overlay
  'squashfs',
  'loop',
  'overlay',
  // machine descriptions (node/agent/storage.sh): RAID 1, LVM, xfs
  'md_mod',
  'raid1',
  'dm_mod',
  'xfs',
  // LUKS volumes (node/agent/storage.sh storage_key, luks.sh): dm-crypt and LUKS2's default cipher aes-xts-plain64.
  // xts is a template over ecb(aes): the kernel asks for "crypto-ecb" by request_module, which modules.dep does not
  // list, and Debian builds ECB as a module (without it cryptsetup open fails: "reload ioctl … No such file").
  'dm_crypt',
  'xts',
  'ecb',
  'aesni_intel',
  'aes_generic',
  'sha256_generic',
  'algif_skcipher',
] as const;

/** Host tools copied (with their libraries) into usr/lib/kiln/bin: [candidates, name in image, required]. */
const hostTools: Array<[string[], string, boolean]> = [
  [['/usr/sbin/sfdisk', '/sbin/sfdisk'], 'sfdisk', true],
  [['/usr/sbin/mke2fs', '/sbin/mke2fs'], 'mke2fs', true],
  [['/usr/sbin/mkfs.fat', '/sbin/mkfs.fat'], 'mkfs.vfat', true],
  [['/usr/bin/zstd'], 'zstd', true],
  [['/usr/bin/tar', '/bin/tar'], 'tar', true],
  // The late step's HTTPS client (s_client, verifying the API against Kiln's CA): busybox wget verifies nothing.
  [['/usr/bin/openssl'], 'openssl', true],
  // The image from objects (node/agent/objects.sh): mtree view to tar stream, and extended attributes.
  [['/usr/bin/bsdtar'], 'bsdtar', true],
  [['/usr/bin/setfattr'], 'setfattr', true],
  [['/usr/bin/ipmitool'], 'ipmitool', false],
  // The hand-off by kexec (node/agent/kexec.sh, plan.handoff "kexec"); absent, the writer reboots through the firmware.
  [['/usr/sbin/kexec', '/sbin/kexec'], 'kexec', false],
  // Machine descriptions' storage plans (node/agent/storage.sh): GPT, partition table updates, signatures,
  // RAID 1, LVM (one binary, called as `lvm pvcreate` …), xfs and swap. A plan needing an absent one fails at its step.
  [['/usr/sbin/sgdisk', '/sbin/sgdisk'], 'sgdisk', true],
  [['/usr/bin/partx', '/usr/sbin/partx'], 'partx', true],
  [['/usr/sbin/wipefs', '/sbin/wipefs'], 'wipefs', true],
  [['/usr/sbin/mkswap', '/sbin/mkswap'], 'mkswap', true],
  [['/usr/sbin/mdadm', '/sbin/mdadm'], 'mdadm', false],
  [['/usr/sbin/lvm', '/sbin/lvm'], 'lvm', false],
  [['/usr/sbin/mkfs.xfs', '/sbin/mkfs.xfs'], 'mkfs.xfs', false],
  // LUKS volumes (storage.encrypted): luksFormat and open before the image is written (cryptsetup-bin).
  [['/usr/sbin/cryptsetup', '/sbin/cryptsetup'], 'cryptsetup', false],
  // Self-tests (node/agent/selftest.sh): a missing tool skips its test.
  [['/usr/sbin/memtester', '/usr/bin/memtester'], 'memtester', false],
  [['/usr/sbin/smartctl'], 'smartctl', false],
  [['/usr/sbin/ethtool', '/sbin/ethtool'], 'ethtool', false],
];

/** Files of node/ that go to usr/lib/kiln in the image. */
const agentFiles = [
  'agent/lib.sh',
  'agent/net.sh',
  'agent/facts.sh',
  'agent/discover.sh',
  'agent/selftest.sh',
  'agent/install.sh',
  'agent/late.sh',
  'agent/netconf.sh',
  'agent/clock.sh',
  'agent/objects.sh',
  'agent/storage.sh',
  'agent/luks.sh',
  'agent/status.sh',
  'agent/kexec.sh',
  'agent/wipe.sh',
  'agent/stateless.sh',
  'agent/json-flatten.awk',
  'agent/udhcpc.sh',
  'agent/ab.sh',
  'agent/kiln-ab.service',
  'firstboot/kiln-firstboot.sh',
  'firstboot/kiln-firstboot.service',
  'heartbeat/kiln-heartbeat.sh',
  'heartbeat/kiln-heartbeat.service',
  'heartbeat/kiln-heartbeat.timer',
];

/** Bump when the image layout changes in a way the other inputs do not show. */
const layoutVersion = '2';

/** Inputs of `buildDiscoveryImage`; `cacheDir` holds packages, unpacked trees and results. */
export interface DiscoveryImageOptions {
  cacheDir: string;
  log?: Logger;
  /** Extra module names to ship beyond `discoveryModules`. */
  extraModules?: readonly string[];
  /** Cancels the build: the running tool is killed and the work directory removed; the promise rejects. */
  signal?: AbortSignal;
}

/** A built discovery image: files under cacheDir/discovery/<version>/, owned by the cache. */
export interface DiscoveryImage {
  kernelPath: string;
  initrdPath: string;
  /** "<kernel release>-<12 hex digits of the input hash>": changes whenever any input changes. */
  version: string;
  /** True when this call found the image in the cache. */
  cached: boolean;
}

function resolveHostTools(): Array<{ src: string; name: string }> {
  const out: Array<{ src: string; name: string }> = [];
  for (const [candidates, name, required] of hostTools) {
    const src = candidates.find((c) => existsSync(c));
    if (src !== undefined) out.push({ src, name });
    else if (required)
      throw new KilnError(
        'internal',
        `discovery image needs ${candidates[0]} on the controller (scripts/install-debian-packages.sh installs it)`,
        { details: { tool: name } },
      );
  }
  return out;
}

function hashInputs(parts: Array<string | Uint8Array>): string {
  const h = createHash('sha256');
  for (const p of parts) {
    h.update(typeof p === 'string' ? p : p);
    h.update('\0');
  }
  return h.digest('hex');
}

/**
 * Builds the discovery kernel + initramfs, or returns the cached one when no
 * input changed. Inputs: the kernel and busybox .deb versions, the module
 * list, node/ scripts, the host tools' bytes and GRUB's. Needs apt-get,
 * dpkg-deb, depmod, ldd and grub-mkimage; takes tens of seconds the first time.
 */
export function buildDiscoveryImage(opts: DiscoveryImageOptions): Promise<DiscoveryImage> {
  // Aborting `opts.signal` stops the running tool (by PID) and removes the half-built directory.
  return withToolSignal(opts.signal, () => build(opts));
}

async function build(opts: DiscoveryImageOptions): Promise<DiscoveryImage> {
  const log = opts.log ?? silentLogger;
  const started = Date.now();
  const kernel = await prepareKernel(opts.cacheDir, log);
  const busybox = await prepareBusybox(opts.cacheDir, log);
  const tools = resolveHostTools();
  const modules = [...discoveryModules, ...(opts.extraModules ?? [])];
  const grubInputs = ['/usr/lib/grub/i386-pc/kernel.img', '/usr/lib/grub/x86_64-efi/kernel.img'].map((f) =>
    existsSync(f) ? readFileSync(f) : f,
  );
  const hash = hashInputs([
    layoutVersion,
    kernel.deb,
    busybox.deb,
    modules.join(','),
    grubEarlyConfig,
    grubModules.join(','),
    ...grubInputs,
    'init.sh',
    readFileSync(join(nodeScriptsDir, 'init.sh')),
    ...agentFiles.flatMap((f) => [f, readFileSync(join(nodeScriptsDir, f))]),
    ...tools.flatMap((t) => [t.name, readFileSync(t.src)]),
  ]);
  const version = `${kernel.release}-${hash.slice(0, 12)}`;
  const outDir = join(opts.cacheDir, 'discovery', version);
  const result = { kernelPath: join(outDir, 'vmlinuz'), initrdPath: join(outDir, 'initrd.img'), version };
  if (existsSync(result.initrdPath)) return { ...result, cached: true };

  const work = `${outDir}.tmp${process.pid}`;
  const stage = join(work, 'root');
  rmSync(work, { recursive: true, force: true });
  mkdirSync(stage, { recursive: true });
  try {
    return await buildInto(opts, {
      work,
      stage,
      outDir,
      version,
      hash,
      kernel,
      busybox,
      tools,
      modules,
      result,
      started,
      log,
    });
  } catch (err) {
    rmSync(work, { recursive: true, force: true });
    throw err;
  }
}

interface BuildPlan {
  work: string;
  stage: string;
  outDir: string;
  version: string;
  hash: string;
  kernel: Awaited<ReturnType<typeof prepareKernel>>;
  busybox: Awaited<ReturnType<typeof prepareBusybox>>;
  tools: Array<{ src: string; name: string }>;
  modules: string[];
  result: { kernelPath: string; initrdPath: string; version: string };
  started: number;
  log: Logger;
}

async function buildInto(opts: DiscoveryImageOptions, p: BuildPlan): Promise<DiscoveryImage> {
  const { work, stage, outDir, version, hash, kernel, busybox, tools, modules, result, started, log } = p;
  for (const d of ['proc', 'sys', 'dev', 'run', 'tmp', 'mnt', 'etc', 'root', 'usr/lib/kiln/bin', 'usr/lib/kiln/grub'])
    mkdirSync(join(stage, d), { recursive: true });
  stageBusybox(stage, busybox);
  const missing = await stageModules(stage, kernel, modules);
  if (missing.length > 0) log.debug({ missing }, 'modules not shipped (built in or absent from this kernel)');
  for (const t of tools) await stageHostBinary(stage, t.src, `usr/lib/kiln/bin/${t.name}`);
  if (existsSync('/etc/mke2fs.conf')) copyFileSync('/etc/mke2fs.conf', join(stage, 'etc/mke2fs.conf'));
  copyFileSync(join(nodeScriptsDir, 'init.sh'), join(stage, 'init'));
  chmodSync(join(stage, 'init'), 0o755);
  for (const f of agentFiles) {
    const dest = join(stage, 'usr/lib/kiln', f.slice(f.indexOf('/') + 1));
    copyFileSync(join(nodeScriptsDir, f), dest);
    chmodSync(dest, f.endsWith('.sh') ? 0o755 : 0o644);
  }
  const grub = await buildGrubImages(join(opts.cacheDir, 'grub', hash.slice(0, 12)));
  for (const f of [grub.bootImg, grub.coreImg, grub.efiImg])
    copyFileSync(f, join(stage, 'usr/lib/kiln/grub', f.slice(f.lastIndexOf('/') + 1)));
  writeFileSync(join(stage, 'etc/kiln-image-version'), `${version}\n`);
  writeFileSync(join(stage, 'etc/passwd'), 'root:x:0:0:root:/root:/bin/sh\n');
  writeFileSync(join(stage, 'etc/group'), 'root:x:0:\n');

  const size = writeInitramfs(stage, join(work, 'initrd.img'));
  copyFileSync(kernel.vmlinuz, join(work, 'vmlinuz'));
  writeFileSync(join(work, 'version'), `${version}\n`);
  rmSync(stage, { recursive: true, force: true });
  mkdirSync(join(opts.cacheDir, 'discovery'), { recursive: true });
  if (existsSync(outDir)) rmSync(work, { recursive: true, force: true });
  else renameSync(work, outDir);
  log.info({ version, initrdBytes: size, ms: Date.now() - started }, 'discovery image built');
  return { ...result, cached: false };
}

/** Versions present in the cache (one directory each), newest build order not implied. */
export function listDiscoveryImages(cacheDir: string): string[] {
  const dir = join(cacheDir, 'discovery');
  return existsSync(dir) ? readdirSync(dir).filter((d) => !d.includes('.tmp')) : [];
}

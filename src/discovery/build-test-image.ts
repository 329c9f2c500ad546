// The CI test image: a tiny busybox root filesystem as a tar.gz, with the
// Debian kernel, a small initrd (virtio/SCSI/NVMe disk drivers + ext4, mounts
// LABEL=kiln-root), Debian's OpenSSH (sshd and ssh-keygen from the
// controller's openssh-server/openssh-client packages, with their shared
// libraries as `ldd` names them, as the node image builder copies its tools)
// and an init that starts sshd, runs Kiln's first-boot callback and idles. It
// exercises the image writer, its late step included, end to end in seconds
// instead of the minutes a Debian image would take under TCG. The image ships
// no host key: the writer makes one per host.
import { createHash } from 'node:crypto';
import {
  chmodSync,
  copyFileSync,
  createReadStream,
  existsSync,
  mkdirSync,
  readFileSync,
  renameSync,
  rmSync,
  writeFileSync,
} from 'node:fs';
import { join } from 'node:path';
import { silentLogger, type Logger } from '../log/logger.js';
import { nodeScriptsDir } from './build-discovery-image.js';
import { stageHostBinary, writeInitramfs } from './initramfs-tree.js';
import { prepareBusybox, prepareKernel, stageBusybox, stageModules } from './kernel-tree.js';
import { runTool } from '../process/run-tool.js';

/** Modules in the test image's initrd: enough to find and mount the root disk. */
export const testImageInitrdModules = [
  'virtio_pci',
  'virtio_blk',
  'virtio_scsi',
  'sd_mod',
  'ahci',
  'nvme',
  'crc32c_generic',
  'ext4',
] as const;
/** Modules on the test image's root filesystem: its NIC drivers; for layout ab, FAT (the ESP's switch state) and QEMU's i6300esb watchdog. */
export const testImageRootModules = [
  'virtio_pci',
  'virtio_net',
  'e1000',
  'e1000e',
  'vfat',
  'nls_cp437',
  'nls_ascii',
  'nls_utf8',
  'i6300esb',
] as const;

/**
 * The test image's health hook for layout ab (/etc/kiln/health-check, run by
 * kiln-ab watch): healthy, unless the kernel command line says
 * kiln.test.health=fail (exits 1) or kiln.test.health=hang (stops every
 * process but init and itself, the watcher and its watchdog petter included,
 * then sleeps: a root that hangs instead of failing).
 */
export const testImageHealthCheck = [
  '#!/bin/sh',
  'case " $(cat /proc/cmdline) " in',
  '  *" kiln.test.health=fail "*) echo "kiln-test-image: health check fails (kiln.test.health=fail)"; exit 1 ;;',
  '  *" kiln.test.health=hang "*) echo "kiln-test-image: hanging (kiln.test.health=hang)" > /dev/console; kill -STOP -1; while :; do sleep 3600; done ;;',
  'esac',
  'exit 0',
  '',
].join('\n');

/** OpenSSH in the test image: host binary → path in the image (Debian's openssh-server and openssh-client). */
export const testImageOpenSsh = [
  ['/usr/sbin/sshd', 'usr/sbin/sshd'],
  ['/usr/bin/ssh-keygen', 'usr/bin/ssh-keygen'],
] as const;

/**
 * The test image's sshd_config: Debian's shape (sshd_config.d included first,
 * where the writer puts HostKey/HostCertificate), no PAM in this image.
 */
export const testImageSshdConfig = [
  'Include /etc/ssh/sshd_config.d/*.conf',
  'UsePAM no',
  'PidFile /run/sshd.pid',
  'AuthorizedKeysFile .ssh/authorized_keys',
  'LogLevel VERBOSE',
  '',
].join('\n');

/** A built test image: a tar.gz of a root filesystem, ready for an install plan. */
export interface TestImage {
  tarPath: string;
  sha256: string;
  format: 'tar.gz';
  sizeBytes: number;
}

function sha256File(path: string): Promise<string> {
  return new Promise((resolve, reject) => {
    const h = createHash('sha256');
    createReadStream(path)
      .on('data', (d) => h.update(d))
      .on('end', () => resolve(h.digest('hex')))
      .on('error', reject);
  });
}

async function stageInitrd(
  dir: string,
  kernel: Awaited<ReturnType<typeof prepareKernel>>,
  bb: Awaited<ReturnType<typeof prepareBusybox>>,
): Promise<string> {
  const stage = join(dir, 'initrd-root');
  for (const d of ['proc', 'sys', 'dev', 'newroot']) mkdirSync(join(stage, d), { recursive: true });
  stageBusybox(stage, bb);
  await stageModules(stage, kernel, testImageInitrdModules);
  copyFileSync(join(nodeScriptsDir, 'test-image/initrd-init.sh'), join(stage, 'init'));
  chmodSync(join(stage, 'init'), 0o755);
  const out = join(dir, 'initrd.img');
  writeInitramfs(stage, out);
  return out;
}

/**
 * Builds (or returns from cacheDir/test-image/<hash>/) the CI test image.
 * Inputs hashed: kernel and busybox .deb versions and the node/ scripts.
 */
export async function buildTestImage(opts: { cacheDir: string; log?: Logger }): Promise<TestImage> {
  const log = opts.log ?? silentLogger;
  const kernel = await prepareKernel(opts.cacheDir, log);
  const bb = await prepareBusybox(opts.cacheDir, log);
  const scripts = ['test-image/initrd-init.sh', 'test-image/rootfs-init.sh', 'agent/udhcpc.sh'];
  for (const [src] of testImageOpenSsh) {
    if (!existsSync(src))
      throw new Error(
        `the test image needs ${src} (Debian's openssh-server and openssh-client; scripts/install-debian-packages.sh)`,
      );
  }
  const h = createHash('sha256').update(
    `3\0${kernel.deb}\0${bb.deb}\0${testImageSshdConfig}\0${testImageRootModules.join(',')}\0${testImageHealthCheck}\0`,
  );
  for (const s of scripts) h.update(readFileSync(join(nodeScriptsDir, s)));
  for (const [src] of testImageOpenSsh) h.update(readFileSync(src));
  const outDir = join(opts.cacheDir, 'test-image', h.digest('hex').slice(0, 16));
  const tarPath = join(outDir, 'rootfs.tar.gz');
  if (!existsSync(tarPath)) {
    const work = `${outDir}.tmp${process.pid}`;
    rmSync(work, { recursive: true, force: true });
    const root = join(work, 'root');
    for (const d of [
      'proc',
      'sys',
      'dev',
      'run',
      'tmp',
      'root',
      'etc/kiln',
      'var/lib/kiln',
      'boot',
      'usr/share/udhcpc',
      'sbin',
    ])
      mkdirSync(join(root, d), { recursive: true });
    stageBusybox(root, bb);
    await stageModules(root, kernel, testImageRootModules);
    rmSync(join(root, 'sbin/init'), { force: true });
    copyFileSync(join(nodeScriptsDir, 'test-image/rootfs-init.sh'), join(root, 'sbin/init'));
    chmodSync(join(root, 'sbin/init'), 0o755);
    copyFileSync(join(nodeScriptsDir, 'agent/udhcpc.sh'), join(root, 'usr/share/udhcpc/default.script'));
    chmodSync(join(root, 'usr/share/udhcpc/default.script'), 0o755);
    writeFileSync(join(root, 'etc/hostname'), 'kiln-test\n');
    writeFileSync(join(root, 'etc/kiln/health-check'), testImageHealthCheck, { mode: 0o755 });
    // sshd's privilege-separation user (Debian's build: "sshd", chroot /run/sshd).
    writeFileSync(
      join(root, 'etc/passwd'),
      'root:x:0:0:root:/root:/bin/sh\nsshd:x:100:65534::/run/sshd:/usr/sbin/nologin\n',
    );
    writeFileSync(join(root, 'etc/group'), 'root:x:0:\nnogroup:x:65534:\n');
    // Root's password as a fresh image has it: no password; the writer sets Kiln's hash.
    writeFileSync(join(root, 'etc/shadow'), 'root:*:19000:0:99999:7:::\nsshd:*:19000:0:99999:7:::\n', { mode: 0o600 });
    for (const [src, dest] of testImageOpenSsh) await stageHostBinary(root, src, dest);
    mkdirSync(join(root, 'etc/ssh/sshd_config.d'), { recursive: true });
    writeFileSync(join(root, 'etc/ssh/sshd_config'), testImageSshdConfig);
    chmodSync(join(root, 'root'), 0o700);
    copyFileSync(kernel.vmlinuz, join(root, 'boot/vmlinuz'));
    copyFileSync(await stageInitrd(work, kernel, bb), join(root, 'boot/initrd.img'));
    await runTool('tar', [
      '-C',
      root,
      '--numeric-owner',
      '--owner=0',
      '--group=0',
      '--sort=name',
      '--mtime=@0',
      '-czf',
      join(work, 'rootfs.tar.gz'),
      '.',
    ]);
    rmSync(root, { recursive: true, force: true });
    rmSync(join(work, 'initrd-root'), { recursive: true, force: true });
    if (existsSync(outDir)) rmSync(work, { recursive: true, force: true });
    else renameSync(work, outDir);
    log.info({ tarPath }, 'test image built');
  }
  const sha256 = await sha256File(tarPath);
  return { tarPath, sha256, format: 'tar.gz', sizeBytes: readFileSync(tarPath).length };
}

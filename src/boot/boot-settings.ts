import { Type } from '@sinclair/typebox';

/** Top-level settings of network boot: iPXE binaries, the boot-file cache, Kiln's node image. */
export const BootSettingsSchema = Type.Object({
  'ipxe-dir': Type.String({
    path: true,
    default: '/usr/lib/ipxe',
    description: "Directory holding Debian's iPXE binaries (undionly.kpxe, ipxe.efi, snp.efi).",
  }),
  'http-cache-mib': Type.Integer({
    default: 256,
    minimum: 0,
    maximum: 65536,
    description:
      'Memory, in MiB, for whole boot files (kernels, initrds, iPXE binaries) served by plain GETs; least recently used out first, checked against the file on every request; 0 streams every request from disk.',
  }),
  'max-loading': Type.Integer({
    default: -1,
    minimum: -1,
    maximum: 100000,
    description:
      'Machines that load a kernel and initrd from this controller at once (the boot waiting room); the others get a wait script that shows their place in the queue and asks again. 0: no limit. -1 (the default): 256 on the embedded SQLite store, 0 on PostgreSQL (not yet right with several members: docs/booting.md).',
  }),
  'node-image': Type.String({
    pattern: '^(auto|off|/.+)$',
    default: 'auto',
    description:
      'auto: build (or reuse) the discovery/installer image from Debian packages in the background at start; off: do not (the member serves the version another member recorded, fetched from it); an absolute directory: a built image in it (vmlinuz, initrd.img, version).',
  }),
  'node-image-args': Type.String({
    default: 'console=tty0 console=ttyS0,115200',
    description: "Extra kernel arguments for Kiln's node image (discovery, image writer, wipe).",
  }),
});

// GRUB images for disks written by the image writer, built once on the
// controller with grub-mkimage (Debian grub-pc-bin, grub-efi-amd64-bin) so the
// node needs no GRUB tools. Both carry the same embedded config: layout ab's
// switch on the ESP when there is one (docs/ab-roots.md), else the filesystem
// labelled kiln-root and its /boot/grub/grub.cfg, which the writer generates
// for the installed kernel.
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { runTool } from '../process/run-tool.js';

/** The LBA (512-byte sectors) where the writer puts core.img: the start of the BIOS boot partition. */
export const grubCoreLba = 2048;

/** The GRUB modules linked into both images (no module is loaded from disk later). */
export const grubModules = [
  'part_gpt',
  'part_msdos',
  'ext2',
  'fat',
  'xfs',
  // a root on RAID 1 (mdadm metadata 1.2) or LVM, from machine descriptions
  'mdraid1x',
  'lvm',
  'search',
  'search_label',
  'search_fs_uuid',
  'search_fs_file',
  // layout ab: the boot counter in a GRUB environment block on the ESP (load_env, save_env)
  'loadenv',
  'normal',
  'configfile',
  'linux',
  'echo',
  'test',
  'serial',
  'terminal',
  'gzio',
  'sleep',
] as const;

/**
 * The embedded config: layout ab's switch on the ESP (/kiln/ab.cfg, which
 * never returns when it boots a slot), else a /boot of its own by its label
 * kiln-boot, else the root by label, and the installed system's grub.cfg. The embedded config runs line by line with no
 * `if`; a failing line (no ESP with /kiln/ab.cfg on a single-root disk) prints
 * its error and the next line runs. The root's search has no `--no-floppy`:
 * GRUB 2.06's search stops walking the devices at the first floppy it skips,
 * and md arrays and LVM volumes come after floppies (the rescan pass), so a
 * root on RAID 1 or LVM was not found on a machine with a floppy drive
 * (seen under QEMU's SeaBIOS: "no such device: kiln-root"; found once the
 * drive is gone). An empty floppy drive costs one failed read.
 */
export const grubEarlyConfig = [
  'serial --unit=0 --speed=115200',
  'terminal_input console serial',
  'terminal_output console serial',
  'search --no-floppy --file /kiln/ab.cfg --set=kiln_esp',
  'configfile ($kiln_esp)/kiln/ab.cfg',
  // A /boot of its own (machine descriptions; required under an encrypted root, which GRUB cannot open).
  'search --label kiln-boot --set=kiln_boot',
  'configfile ($kiln_boot)/grub/grub.cfg',
  'search --label kiln-root --set=root',
  'set prefix=($root)/boot/grub',
  'configfile ($root)/boot/grub/grub.cfg',
  '',
].join('\n');

/** Paths of the three files the writer installs. */
export interface GrubImages {
  /** MBR boot code (first 440 bytes go to sector 0), patched to load core.img from `grubCoreLba`. */
  bootImg: string;
  /** BIOS core image, patched for `grubCoreLba`; written raw at that LBA. */
  coreImg: string;
  /** UEFI loader copied to ESP:/EFI/BOOT/BOOTX64.EFI. */
  efiImg: string;
}

/**
 * Patches GRUB's i386-pc images for a core.img stored contiguously at `lba`,
 * as grub-bios-setup would: boot.img's kernel_sector (offset 0x5c, u64 LE)
 * gets `lba`, and the first blocklist of core.img's first sector (diskboot.img,
 * bytes 500..507: start u64 LE, then len u16, segment u16) gets `lba + 1`.
 * Returns new arrays; checks the blocklist covers the rest of core.img.
 */
export function patchBiosGrub(boot: Uint8Array, core: Uint8Array, lba: number): { boot: Uint8Array; core: Uint8Array } {
  if (boot.length !== 512) throw new RangeError(`boot.img must be 512 bytes, got ${boot.length}`);
  const b = Uint8Array.from(boot);
  const c = Uint8Array.from(core);
  new DataView(b.buffer).setBigUint64(0x5c, BigInt(lba), true);
  const dv = new DataView(c.buffer);
  const len = dv.getUint16(508, true);
  const need = Math.ceil(core.length / 512) - 1;
  if (len !== need) throw new RangeError(`core.img blocklist covers ${len} sectors, image needs ${need}`);
  dv.setBigUint64(500, BigInt(lba + 1), true);
  return { boot: b, core: c };
}

/** Builds (or reuses, when all three exist in `dir`) the GRUB images. Needs grub-mkimage. */
export async function buildGrubImages(dir: string): Promise<GrubImages> {
  const out: GrubImages = {
    bootImg: join(dir, 'boot.img'),
    coreImg: join(dir, 'core.img'),
    efiImg: join(dir, 'BOOTX64.EFI'),
  };
  if (existsSync(out.bootImg) && existsSync(out.coreImg) && existsSync(out.efiImg)) return out;
  mkdirSync(dir, { recursive: true });
  const cfg = join(dir, 'early.cfg');
  writeFileSync(cfg, grubEarlyConfig);
  const rawCore = join(dir, 'core.raw.img');
  await runTool('grub-mkimage', [
    '-O',
    'i386-pc',
    '-o',
    rawCore,
    '-c',
    cfg,
    '-p',
    '/boot/grub',
    'biosdisk',
    ...grubModules,
  ]);
  await runTool('grub-mkimage', [
    '-O',
    'x86_64-efi',
    '-o',
    out.efiImg,
    '-c',
    cfg,
    '-p',
    '/boot/grub',
    'efi_gop',
    'efi_uga',
    ...grubModules,
  ]);
  const patched = patchBiosGrub(readFileSync('/usr/lib/grub/i386-pc/boot.img'), readFileSync(rawCore), grubCoreLba);
  writeFileSync(out.coreImg, patched.core);
  writeFileSync(out.bootImg, patched.boot);
  return out;
}

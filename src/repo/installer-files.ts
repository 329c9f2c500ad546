/**
 * debian-installer profiles' netboot files under the published tree
 * (`/repo/installer/<profile>/{linux,initrd.gz}`): Debian's netboot kernel
 * as it is, and its initrd with the repo keyring appended (an extra cpio
 * archive, installer-keyring.ts). The keyring is every member's repo key,
 * then the Debian archive keyring, so d-i verifies whichever member's mirror
 * it is pointed at and an upstream mirror too. Always made from this
 * machine's own debian-installer-<version>-netboot-<arch> package, never
 * taken from a peer (nothing signs these files).
 */
import { copyFile, mkdir, readFile, rename, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { gunzipSync, gzipSync } from 'node:zlib';
import { initrdKernelAbi, installerKeyringCpio } from './installer-keyring.js';
import type { RepoLayout } from './repo-layout.js';

/** Where Debian's debian-installer-<version>-netboot-<arch> package puts the text installer's linux and initrd.gz. Pure. */
export function installerSource(images: string, osVersion: string, debArch: string): string {
  return join(images, osVersion, debArch, 'text', 'debian-installer', debArch);
}

/** One profile's published netboot files. */
export interface PublishedInstaller {
  profile: string;
  kernel: string;
  initrd: string;
  kernelAbi: string | null;
}

/** The keyring d-i reads as archive.gpg: the members' keys, then the extra keyrings (missing ones skipped). */
export async function installerKeyring(
  memberKeys: readonly Uint8Array[],
  extraKeyrings: readonly string[],
): Promise<Buffer> {
  const extra = await Promise.all(extraKeyrings.map((k) => readFile(k).catch(() => Buffer.alloc(0))));
  return Buffer.concat([...memberKeys, ...extra]);
}

/**
 * Writes each profile's kernel and keyring-carrying initrd (each beside and renamed into place); a profile whose
 * netboot package is not installed here is skipped (its files, if any, stay as they were).
 */
export async function publishInstallers(
  layout: RepoLayout,
  profiles: readonly { name: string; osVersion: string; debArch: string }[],
  images: string,
  keyring: Uint8Array,
): Promise<PublishedInstaller[]> {
  const appended = gzipSync(installerKeyringCpio(keyring));
  const out: PublishedInstaller[] = [];
  for (const p of profiles) {
    const src = installerSource(images, p.osVersion, p.debArch);
    const initrd = await readFile(join(src, 'initrd.gz')).catch(() => null);
    if (!initrd) continue;
    const dir = layout.installerDir(p.name);
    await mkdir(dir, { recursive: true });
    await copyFile(join(src, 'linux'), join(dir, '.linux.new'));
    await rename(join(dir, '.linux.new'), join(dir, 'linux'));
    await writeFile(join(dir, '.initrd.gz.new'), Buffer.concat([initrd, appended]));
    await rename(join(dir, '.initrd.gz.new'), join(dir, 'initrd.gz'));
    out.push({
      profile: p.name,
      kernel: join(dir, 'linux'),
      initrd: join(dir, 'initrd.gz'),
      kernelAbi: initrdKernelAbi(gunzipSync(initrd)),
    });
  }
  return out;
}

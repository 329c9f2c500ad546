/**
 * Kiln's repo key inside debian-installer: an extra cpio archive appended to
 * the netboot initrd (the kernel unpacks concatenated archives in order, each
 * compressed on its own), holding `usr/share/keyrings/archive.gpg`. That is
 * the keyring d-i's net-retriever verifies the mirror's Release.gpg with
 * (`gpgv --keyring /usr/share/keyrings/archive.gpg`), and base-installer hands
 * it to debootstrap; the initrd itself has no such file (debian-archive-
 * keyring-udeb's postinst links it to debian-archive-keyring.gpg only when it
 * is absent), so ours is kept. Pure.
 */
import { encodeCpioNewc } from '../discovery/cpio-newc.js';

/** Where d-i's gpgv reads the archive keyring. */
export const DI_KEYRING_PATH = 'usr/share/keyrings/archive.gpg';

/** The cpio (newc) archive to append, uncompressed: the directories and the keyring file (0644). Pure. */
export function installerKeyringCpio(keyring: Uint8Array): Uint8Array {
  return encodeCpioNewc([
    { kind: 'dir', path: 'usr', mode: 0o755 },
    { kind: 'dir', path: 'usr/share', mode: 0o755 },
    { kind: 'dir', path: 'usr/share/keyrings', mode: 0o755 },
    { kind: 'file', path: DI_KEYRING_PATH, mode: 0o644, data: keyring },
  ]);
}

/**
 * The kernel ABI an initrd's modules are built for (`lib/modules/<abi>/`),
 * read from its first cpio (newc) archive, uncompressed; null when it has
 * none. anna loads only udebs of this ABI, so it names which module udebs a
 * subset must carry. Pure.
 */
export function initrdKernelAbi(cpio: Uint8Array): string | null {
  const text = new TextDecoder('latin1');
  let off = 0;
  while (off + 110 <= cpio.length) {
    const head = text.decode(cpio.subarray(off, off + 110));
    if (!head.startsWith('070701')) return null;
    const field = (i: number) => parseInt(head.slice(6 + i * 8, 14 + i * 8), 16);
    const size = field(6);
    const nameSize = field(11);
    const name = text.decode(cpio.subarray(off + 110, off + 110 + nameSize - 1));
    if (name === 'TRAILER!!!') return null;
    const m = /^(?:\.\/)?lib\/modules\/([^/]+)$/.exec(name);
    if (m) return m[1];
    off += 110 + nameSize;
    off += (4 - (off % 4)) % 4;
    off += size;
    off += (4 - (off % 4)) % 4;
  }
  return null;
}

import { close, constants, fstat, open } from 'node:fs';
import { realpath } from 'node:fs/promises';
import { promisify } from 'node:util';
import { createServedRoot } from '../served-path.js';
import { tftpFileFromFd, type TftpFileSource, type TftpLookup } from './file-source.js';

const openFd = promisify(open);
const fstatFd = promisify(fstat);
const closeFd = promisify(close);

const errnoOf = (err: unknown): string => (err as NodeJS.ErrnoException).code ?? '';

/** Options of `createDirectorySource`. */
export interface DirectorySourceOptions {
  /**
   * Exact relative names (as `resolveTftpPath` returns them) served even when
   * they are symlinks out of the root: the boot files Kiln names in DHCP
   * replies. Debian's `ipxe` package installs /usr/lib/ipxe/ipxe.efi as a
   * symlink to /boot/ipxe.efi, so without this UEFI PXE clients get ERROR 2.
   * @default []
   */
  bootFiles?: readonly string[];
}

/**
 * Serves regular files under `root` by the rule every served root shares
 * (served-path.ts, also used by HTTP `/ipxe/`): realpath must stay inside the
 * real root, so a symlink (file or directory) pointing out of the root is
 * refused (ERROR 2) unless its name is one of `bootFiles`; dotfiles are
 * refused (ERROR 2); a missing file or a directory is ERROR 1. The file is
 * opened with O_NOFOLLOW on the resolved path. Rejects when `root` is missing.
 */
export async function createDirectorySource(root: string, opts: DirectorySourceOptions = {}): Promise<TftpFileSource> {
  const served = createServedRoot(root, { linkedFiles: opts.bootFiles ?? [] });
  // Fails here, at start, when the root is missing.
  await realpath(root);
  return async (path): Promise<TftpLookup> => {
    const found = await served.resolve(path);
    if (!found.ok)
      return { error: found.kind === 'not_found' ? 'not_found' : 'access_violation', reason: found.reason };
    let fd: number;
    try {
      // A plain fd, not a FileHandle: the transfer may run in a worker thread (file-source.ts, handOff).
      fd = await openFd(found.real, constants.O_RDONLY | constants.O_NOFOLLOW);
    } catch (err) {
      const code = errnoOf(err);
      if (code === 'ENOENT') return { error: 'not_found', reason: `${path}: no such file` };
      return { error: 'access_violation', reason: `${path}: ${code || 'cannot open'}` };
    }
    const st = await fstatFd(fd).catch(async (err: unknown) => {
      await closeFd(fd);
      throw err;
    });
    if (!st.isFile()) {
      await closeFd(fd);
      return { error: 'not_found', reason: `${path}: not a regular file` };
    }
    return { file: tftpFileFromFd(fd, st.size) };
  };
}

import { constants } from 'node:fs';
import { open, realpath } from 'node:fs/promises';
import { join, sep } from 'node:path';
import type { TftpFile, TftpFileSource, TftpLookup } from './file-source.js';

function fileFromHandle(handle: Awaited<ReturnType<typeof open>>, size: number): TftpFile {
  let closed = false;
  return {
    size,
    async read(offset, length) {
      const buf = Buffer.allocUnsafe(length);
      const { bytesRead } = await handle.read(buf, 0, length, offset);
      return bytesRead === length ? buf : buf.subarray(0, bytesRead);
    },
    async close() {
      if (closed) return;
      closed = true;
      await handle.close();
    },
  };
}

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
 * Serves regular files under `root`. Every path is resolved with realpath and
 * must stay inside the real root, so a symlink pointing out of the root is
 * refused (ERROR 2) unless its name is one of `bootFiles`; a missing file or a
 * directory is ERROR 1. The file is opened with O_NOFOLLOW on the resolved
 * path. Rejects when `root` is missing.
 */
export async function createDirectorySource(root: string, opts: DirectorySourceOptions = {}): Promise<TftpFileSource> {
  const realRoot = await realpath(root);
  const bootFiles = new Set(opts.bootFiles ?? []);
  const inside = (p: string): boolean => p === realRoot || p.startsWith(realRoot.endsWith(sep) ? realRoot : realRoot + sep);
  return async (path): Promise<TftpLookup> => {
    let real: string;
    try {
      real = await realpath(join(realRoot, path));
    } catch (err) {
      const code = errnoOf(err);
      if (code === 'ENOENT' || code === 'ENOTDIR') return { error: 'not_found', reason: `${path}: no such file` };
      return { error: 'access_violation', reason: `${path}: ${code || 'cannot resolve'}` };
    }
    if (!inside(real) && !bootFiles.has(path)) return { error: 'access_violation', reason: `${path}: resolves outside the TFTP root` };
    let handle: Awaited<ReturnType<typeof open>>;
    try {
      handle = await open(real, constants.O_RDONLY | constants.O_NOFOLLOW);
    } catch (err) {
      const code = errnoOf(err);
      if (code === 'ENOENT') return { error: 'not_found', reason: `${path}: no such file` };
      return { error: 'access_violation', reason: `${path}: ${code || 'cannot open'}` };
    }
    const st = await handle.stat();
    if (!st.isFile()) {
      await handle.close();
      return { error: 'not_found', reason: `${path}: not a regular file` };
    }
    return { file: fileFromHandle(handle, st.size) };
  };
}

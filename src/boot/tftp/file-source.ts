/**
 * What the TFTP server serves: a function from a request path to a readable
 * file. The default reads a directory (`directory-source.ts`); the composition
 * root can wrap it to serve generated files (per-host iPXE scripts).
 */
import { close as closeFd, read as readFd } from 'node:fs';
import type { UdpPeer } from '../../net/datagram/datagram-socket.js';

/**
 * A file in a form another thread of this process can serve: an open
 * descriptor (the fd table is per process; reads are positioned, so threads
 * share nothing else) or the bytes themselves.
 */
export type TftpFileHandoff = { fd: number; size: number } | { bytes: Uint8Array };

/** An open file. `read` may return fewer bytes only at the end; `close` is called exactly once per successful lookup. */
export interface TftpFile {
  /** Size in bytes, fixed for the transfer (answers tsize, RFC 2349). */
  readonly size: number;
  read(offset: number, length: number): Promise<Uint8Array>;
  close(): Promise<void>;
  /**
   * Optional: gives the file to another thread (a transfer worker). The
   * receiver owns what is returned (it closes the fd); afterwards this object
   * is spent and its `close` does nothing. Files without it are served on the
   * main thread.
   */
  handOff?(): TftpFileHandoff;
}

/** A lookup result: a file, or a reason that becomes ERROR 1 (`not_found`) or ERROR 2 (`access_violation`). */
export type TftpLookup = { file: TftpFile } | { error: 'not_found' | 'access_violation'; reason: string };

/**
 * Resolves a request. `path` is already normalized by `resolveTftpPath`
 * (relative, '/'-separated, no '..'); `client` is the requester, for per-host files.
 */
export type TftpFileSource = (path: string, client: UdpPeer) => Promise<TftpLookup>;

/** Wraps bytes held in memory as a file (generated content); `close` is a no-op; a hand-off copies the bytes. */
export function tftpFileFromBytes(bytes: Uint8Array): TftpFile {
  return {
    size: bytes.length,
    read: async (offset, length) => bytes.subarray(offset, Math.min(bytes.length, offset + length)),
    close: async () => {},
    handOff: () => ({ bytes }),
  };
}

/**
 * Wraps an open file descriptor of `size` bytes; the file owns `fd` and closes
 * it once. Reads are positioned (pread), so no shared offset; FileHandle is
 * not used because it cannot be handed to another thread (it closes its fd on
 * garbage collection).
 */
export function tftpFileFromFd(fd: number, size: number): TftpFile {
  let released = false;
  return {
    size,
    read: (offset, length) =>
      new Promise((resolve, reject) => {
        const buf = Buffer.allocUnsafe(length);
        readFd(fd, buf, 0, length, offset, (err, n) => {
          if (err) reject(err);
          else resolve(n === length ? buf : buf.subarray(0, n));
        });
      }),
    close: () =>
      new Promise((resolve, reject) => {
        if (released) {
          resolve();
          return;
        }
        released = true;
        closeFd(fd, (err) => (err ? reject(err) : resolve()));
      }),
    handOff() {
      if (released) throw new Error('tftp file already closed or handed off');
      released = true;
      return { fd, size };
    },
  };
}

/** The file a hand-off describes, owned by the caller (its `close` closes the fd). */
export function tftpFileFromHandoff(h: TftpFileHandoff): TftpFile {
  return 'fd' in h ? tftpFileFromFd(h.fd, h.size) : tftpFileFromBytes(h.bytes);
}

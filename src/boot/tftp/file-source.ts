/**
 * What the TFTP server serves: a function from a request path to a readable
 * file. The default reads a directory (`directory-source.ts`); the composition
 * root can wrap it to serve generated files (per-host iPXE scripts).
 */
import type { UdpPeer } from './datagram-socket.js';

/** An open file. `read` may return fewer bytes only at the end; `close` is called exactly once per successful lookup. */
export interface TftpFile {
  /** Size in bytes, fixed for the transfer (answers tsize, RFC 2349). */
  readonly size: number;
  read(offset: number, length: number): Promise<Uint8Array>;
  close(): Promise<void>;
}

/** A lookup result: a file, or a reason that becomes ERROR 1 (`not_found`) or ERROR 2 (`access_violation`). */
export type TftpLookup = { file: TftpFile } | { error: 'not_found' | 'access_violation'; reason: string };

/**
 * Resolves a request. `path` is already normalized by `resolveTftpPath`
 * (relative, '/'-separated, no '..'); `client` is the requester, for per-host files.
 */
export type TftpFileSource = (path: string, client: UdpPeer) => Promise<TftpLookup>;

/** Wraps bytes held in memory as a file (generated content); `close` is a no-op. */
export function tftpFileFromBytes(bytes: Uint8Array): TftpFile {
  return {
    size: bytes.length,
    read: async (offset, length) => bytes.subarray(offset, Math.min(bytes.length, offset + length)),
    close: async () => {},
  };
}

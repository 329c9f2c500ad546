/**
 * Content fetched from a peer member (image tarballs, node image files) is kept only when it is exactly the bytes
 * the shared record names: written to a temporary file beside `final`, fsynced, and renamed onto `final` only when it
 * is `size` bytes hashing (SHA-256) to `sha256`. Anything else leaves no file behind and throws `validation_failed`
 * naming `what`; a stream longer than `size` is refused as soon as it passes it.
 */
import { createHash } from 'node:crypto';
import { open, rename, unlink } from 'node:fs/promises';
import { KilnError } from '../error/kiln-error.js';

export interface VerifiedFile {
  /** Where the file is kept. */
  final: string;
  /** The temporary file (same directory as `final`, so the rename is atomic), created exclusively. */
  tmp: string;
  size: number;
  sha256: string;
  /** What the file is, for the error (`tarball x.tar`, `node image v/initrd.img`). */
  what: string;
}

export async function keepVerifiedFile(chunks: AsyncIterable<Uint8Array>, want: VerifiedFile): Promise<void> {
  const hash = createHash('sha256');
  let size = 0;
  const fh = await open(want.tmp, 'wx', 0o644);
  try {
    try {
      for await (const c of chunks) {
        hash.update(c);
        size += c.length;
        if (size > want.size) throw new KilnError('validation_failed', `${want.what}: over ${want.size} bytes`);
        let off = 0;
        while (off < c.length) off += (await fh.write(c, off)).bytesWritten;
      }
      await fh.sync();
    } finally {
      await fh.close();
    }
    const got = hash.digest('hex');
    if (got !== want.sha256 || size !== want.size)
      throw new KilnError('validation_failed', `${want.what}: ${size} bytes hashing to ${got}`);
    await rename(want.tmp, want.final);
  } finally {
    await unlink(want.tmp).catch(() => undefined); // already renamed, or refused
  }
}

// Private key files under the controller's data directory: created atomically
// and exclusively with mode 0600, refused on load when others can read them
// (the same rule sshd applies to host keys).
import { randomBytes } from 'node:crypto';
import { mkdir, link, open, readFile, stat, unlink } from 'node:fs/promises';
import { dirname, join, basename } from 'node:path';
import { KilnError } from '../error/kiln-error.js';

/**
 * Creates `path` with `data` and mode 0600 unless it already exists. Written
 * to a temporary file, synced, then hard-linked into place, so a reader never
 * sees a half-written key and two controllers racing on one directory end up
 * with the same key. Returns false when the file already existed (the caller
 * then loads it instead).
 */
export async function createPrivateFile(path: string, data: string | Uint8Array): Promise<boolean> {
  await mkdir(dirname(path), { recursive: true, mode: 0o700 });
  const tmp = join(dirname(path), `.${basename(path)}.${randomBytes(6).toString('hex')}.tmp`);
  const fh = await open(tmp, 'wx', 0o600);
  try {
    await fh.writeFile(data);
    await fh.sync();
  } finally {
    await fh.close();
  }
  try {
    await link(tmp, path);
    return true;
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'EEXIST') return false;
    throw err;
  } finally {
    await unlink(tmp);
  }
}

/**
 * Reads a private key file, refusing it (config_invalid) when its mode lets
 * the group or others read it. Returns undefined when the file does not exist.
 */
export async function readPrivateFile(path: string): Promise<Buffer | undefined> {
  let mode: number;
  try {
    mode = (await stat(path)).mode;
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw err;
  }
  if ((mode & 0o077) !== 0) {
    throw new KilnError(
      'config_invalid',
      `${path} has mode ${(mode & 0o777).toString(8)}; private keys must be 0600 (chmod 600 ${path})`,
    );
  }
  return readFile(path);
}

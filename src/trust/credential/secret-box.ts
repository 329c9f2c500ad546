// The secret box: BMC passwords and other secrets the controller must read
// back are stored sealed with AES-256-GCM under a data key that lives in a
// 0600 file beside the database, never in it. A stolen database alone
// reveals nothing.
//
//   v1:<iv>:<tag>:<ciphertext>     each part base64url; iv 12 bytes, tag 16 bytes
import { createCipheriv, createDecipheriv, randomBytes } from 'node:crypto';
import { join } from 'node:path';
import { KilnError } from '../../error/kiln-error.js';
import { createPrivateFile, readPrivateFile } from '../key-file.js';

/** File name of the data key inside the directory given to `loadOrCreateDataKey`. */
export const dataKeyFile = 'data.key';

/** A 32-byte AES-256 key. Branded so a random buffer is not passed by mistake. */
export type DataKey = Uint8Array & { readonly __dataKey: true };

/**
 * Loads `<dir>/data.key` (32 raw bytes, mode 0600), creating it from the
 * crypto RNG when absent. Every controller sharing one database needs the
 * same file. Throws config_invalid for a wrong size or loose permissions.
 */
export async function loadOrCreateDataKey(dir: string): Promise<DataKey> {
  const path = join(dir, dataKeyFile);
  let raw = await readPrivateFile(path);
  if (raw === undefined) {
    await createPrivateFile(path, randomBytes(32));
    raw = (await readPrivateFile(path))!;
  }
  if (raw.length !== 32)
    throw new KilnError('config_invalid', `${path} must hold exactly 32 bytes, found ${raw.length}`);
  return new Uint8Array(raw) as DataKey;
}

/**
 * Seals `clear` (UTF-8) with a fresh random 96-bit IV (NIST SP 800-38D §8.2.2:
 * random IVs are safe for well under 2^32 messages per key).
 * `context` (for example the host id) is bound as additional data, so a sealed value copied to
 * another record does not open there.
 */
export function sealSecret(key: DataKey, clear: string, context = ''): string {
  const iv = randomBytes(12);
  const cipher = createCipheriv('aes-256-gcm', key, iv);
  cipher.setAAD(Buffer.from(context, 'utf8'));
  const ct = Buffer.concat([cipher.update(clear, 'utf8'), cipher.final()]);
  const b = (x: Uint8Array) => Buffer.from(x).toString('base64url');
  return `v1:${b(iv)}:${b(cipher.getAuthTag())}:${b(ct)}`;
}

/**
 * Opens a value made by `sealSecret` with the same key and context. Throws
 * config_invalid when the value is malformed, was sealed under another data
 * key or context, or was tampered with (the message never includes the value).
 */
export function openSecret(key: DataKey, sealed: string, context = ''): string {
  const m = /^v1:([A-Za-z0-9_-]{16}):([A-Za-z0-9_-]{22}):([A-Za-z0-9_-]*)$/.exec(sealed);
  if (!m) throw new KilnError('config_invalid', 'sealed secret is not in the v1:<iv>:<tag>:<ciphertext> format');
  try {
    const decipher = createDecipheriv('aes-256-gcm', key, Buffer.from(m[1], 'base64url'));
    decipher.setAAD(Buffer.from(context, 'utf8'));
    decipher.setAuthTag(Buffer.from(m[2], 'base64url'));
    return Buffer.concat([decipher.update(Buffer.from(m[3], 'base64url')), decipher.final()]).toString('utf8');
  } catch (err) {
    throw new KilnError(
      'config_invalid',
      'sealed secret cannot be opened: it was sealed under another data key or context, or altered (check that every controller has the same data.key)',
      { cause: err },
    );
  }
}

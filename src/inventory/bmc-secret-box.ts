import { createCipheriv, createDecipheriv, randomBytes } from 'node:crypto';
import { join } from 'node:path';
import { KilnError } from '../error/kiln-error.js';
import { createPrivateFile, readPrivateFile } from '../trust/key-file.js';

/** Seals and opens BMC passwords at rest with the controller's data key. */
export interface SecretBox {
  seal(clear: string): string;
  open(sealed: string): string;
}

/**
 * AES-256-GCM with a random 96-bit IV per value (NIST SP 800-38D §8.2.2);
 * format `v1:<iv>:<tag>:<ciphertext>`, base64url. The GCM tag makes a
 * tampered or wrong-key value fail loudly instead of decrypting to garbage.
 */
export function createSecretBox(key: Uint8Array): SecretBox {
  if (key.length !== 32) throw new KilnError('config_invalid', 'the data key must be 32 bytes');
  return {
    seal(clear) {
      const iv = randomBytes(12);
      const c = createCipheriv('aes-256-gcm', key, iv);
      const ct = Buffer.concat([c.update(clear, 'utf8'), c.final()]);
      return ['v1', iv.toString('base64url'), c.getAuthTag().toString('base64url'), ct.toString('base64url')].join(':');
    },
    open(sealed) {
      const [v, iv, tag, ct] = sealed.split(':');
      if (v !== 'v1' || !iv || !tag || ct === undefined) throw new KilnError('internal', 'a sealed secret has an unknown format');
      try {
        const d = createDecipheriv('aes-256-gcm', key, Buffer.from(iv, 'base64url'));
        d.setAuthTag(Buffer.from(tag, 'base64url'));
        return Buffer.concat([d.update(Buffer.from(ct, 'base64url')), d.final()]).toString('utf8');
      } catch (err) {
        throw new KilnError('internal', 'a sealed secret cannot be opened with this data key (was data-key copied from the other controllers?)', { cause: err });
      }
    },
  };
}

/**
 * Loads `<dataDir>/data-key` (32 random bytes, mode 0600), creating it on first
 * start. Controllers sharing one PostgreSQL must share this file.
 */
export async function loadSecretBox(dataDir: string): Promise<SecretBox> {
  const path = join(dataDir, 'data-key');
  await createPrivateFile(path, randomBytes(32));
  const key = await readPrivateFile(path);
  if (!key || key.length !== 32) throw new KilnError('config_invalid', `${path} must hold exactly 32 bytes; restore it from another controller or a backup`);
  return createSecretBox(key);
}

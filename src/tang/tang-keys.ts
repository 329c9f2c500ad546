// Tang's keys for Kiln's Tang server: made once by Debian's tangd-keygen under
// the data dir, read back for the thumbprint nodes pin (Clevis's `thp`).
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { KilnError } from '../error/kiln-error.js';
import { execTool } from '../process/run-tool.js';
import { jwkThumbprint } from './jwk-thumbprint.js';

/** Debian's tang package: the server (HTTP on stdin/stdout, one connection per run) and its key maker. */
export const TANGD = '/usr/libexec/tangd';
export const TANGD_KEYGEN = '/usr/libexec/tangd-keygen';

/** The advertised keys of DIR: its `*.jwk` files not starting with a dot (tangd hides rotated keys that way). */
function advertised(dir: string): Array<{ file: string; jwk: Record<string, unknown> }> {
  return readdirSync(dir)
    .filter((f) => f.endsWith('.jwk') && !f.startsWith('.'))
    .sort()
    .map((file) => ({ file, jwk: JSON.parse(readFileSync(join(dir, file), 'utf8')) as Record<string, unknown> }));
}

/**
 * The S256 thumbprint of the first (by file name) advertised signing key in
 * DIR: the `thp` a Clevis binding pins. Throws `internal` when DIR holds none.
 */
export function tangThumbprint(dir: string): string {
  const sig = advertised(dir).find(({ jwk }) => Array.isArray(jwk['key_ops']) && jwk['key_ops'].includes('verify'));
  if (!sig) throw new KilnError('internal', `${dir} holds no Tang signing key (*.jwk with key_ops verify)`);
  return jwkThumbprint(sig.jwk);
}

/**
 * Makes Tang's two keys (signing and exchange) in DIR with tangd-keygen when
 * DIR advertises none yet, and returns the signing key's thumbprint. Keys
 * are never replaced here: a binding made against them stays decryptable.
 */
export async function ensureTangKeys(dir: string, keygen = TANGD_KEYGEN): Promise<string> {
  if (advertised(dir).length === 0) {
    if (!existsSync(keygen)) throw new KilnError('internal', `${keygen} is missing: install Debian's tang package`);
    const r = await execTool(keygen, [dir], { timeoutMs: 60_000 });
    // tangd-keygen warns (and goes on) when it cannot chown the keys to _tang; only its exit code counts.
    if (r.code !== 0)
      throw new KilnError('internal', `${keygen} ${dir} failed (exit ${r.code}): ${r.stderr.trim().slice(-300)}`);
  }
  return tangThumbprint(dir);
}

/**
 * Kiln's repository signing key: an OpenPGP key made once with gpg in a
 * private GNUPGHOME under the data directory (0700; gpg keeps its key files
 * 0600), never leaving it. Only the public key is published (binary for
 * `signed-by` and d-i's gpgv, armored for people). Each use ends by stopping
 * the gpg-agent this GNUPGHOME started.
 */
import { chmod, mkdir, readFile, rename, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { KilnError } from '../error/kiln-error.js';
import { execTool } from '../process/run-tool.js';
import { armorPublicKeys } from './openpgp-keyring.js';

/** The key's user id. */
const KEY_UID = 'Kiln repository signing key';

/** The repo key in `home`: its fingerprint, and functions that sign with it. */
export interface RepoKey {
  fingerprint: string;
  /** The public key, binary (a keyring for gpgv and apt's signed-by). */
  publicKey: Uint8Array;
  publicKeyArmored: string;
  /** Writes `InRelease` (clear-signed) and `Release.gpg` (detached, armored) for `release`. */
  signRelease(release: string, inRelease: string, releaseGpg: string): Promise<void>;
  /** Stops the gpg-agent of this GNUPGHOME. */
  close(): Promise<void>;
}

async function gpg(home: string, args: readonly string[]): Promise<{ stdout: string }> {
  const r = await execTool('gpg', ['--homedir', home, '--batch', '--no-tty', ...args], {
    timeoutMs: 120_000,
    env: { PATH: process.env['PATH'] ?? '/usr/bin:/bin', LANG: 'C', GNUPGHOME: home },
  }).catch((err: Error) => {
    throw new KilnError('internal', `gpg could not run: ${err.message}; install gnupg (Debian)`);
  });
  if (r.code !== 0) throw new KilnError('internal', `gpg ${args[0] ?? ''} failed: ${r.stderr.trim().slice(-500)}`);
  return { stdout: r.stdout };
}

/** Opens the repo key in `home`, making it first when there is none. */
export async function openRepoKey(home: string): Promise<RepoKey> {
  await mkdir(home, { recursive: true, mode: 0o700 });
  await chmod(home, 0o700);
  const fingerprintOf = async (): Promise<string | null> => {
    const { stdout } = await gpg(home, ['--with-colons', '--list-secret-keys']);
    return /^fpr:+([0-9A-F]{40,64}):/m.exec(stdout)?.[1] ?? null;
  };
  let fingerprint = await fingerprintOf();
  if (!fingerprint) {
    await gpg(home, ['--passphrase', '', '--quick-generate-key', KEY_UID, 'ed25519', 'sign', 'never']);
    fingerprint = await fingerprintOf();
    if (!fingerprint) throw new KilnError('internal', `gpg made no key in ${home}`);
  }
  const fpr = fingerprint;
  // Binary output goes to a file: the tool runner reads stdout as UTF-8 text.
  const binFile = join(home, 'public.gpg');
  await gpg(home, ['--yes', '--output', binFile, '--export', fpr]);
  const publicKey = new Uint8Array(await readFile(binFile));
  const armored = (await gpg(home, ['--armor', '--export', fpr])).stdout;
  return {
    fingerprint: fpr,
    publicKey,
    publicKeyArmored: armored,
    async signRelease(release, inRelease, releaseGpg) {
      await gpg(home, [
        '--yes',
        '--local-user',
        fpr,
        '--digest-algo',
        'SHA512',
        '--clearsign',
        '-o',
        inRelease,
        release,
      ]);
      await gpg(home, [
        '--yes',
        '--local-user',
        fpr,
        '--digest-algo',
        'SHA512',
        '--armor',
        '--detach-sign',
        '-o',
        releaseGpg,
        release,
      ]);
    },
    async close() {
      await execTool('gpgconf', ['--homedir', home, '--kill', 'gpg-agent'], {
        env: { PATH: process.env['PATH'] ?? '/usr/bin:/bin', GNUPGHOME: home },
      }).catch(() => undefined);
    },
  };
}

/** Writes the public key files (binary and armored) for serving. */
export async function writePublicKey(key: RepoKey, binPath: string, ascPath: string): Promise<void> {
  await writeFile(binPath, key.publicKey);
  await writeFile(ascPath, key.publicKeyArmored);
}

/**
 * Writes the served key files for several members' keys (this member's first): the binary keyring apt's `signed-by`
 * and gpgv read, and one armored block (apt-setup's `local0/key`). Each is written beside and renamed into place.
 */
export async function writeRepoKeys(binPath: string, ascPath: string, keys: readonly Uint8Array[]): Promise<void> {
  const ring = Buffer.concat(keys);
  await writeFile(`${binPath}.new`, ring);
  await rename(`${binPath}.new`, binPath);
  await writeFile(`${ascPath}.new`, armorPublicKeys(ring));
  await rename(`${ascPath}.new`, ascPath);
}

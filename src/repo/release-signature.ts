/**
 * A peer's InRelease checked with gpgv against that peer's repo key from the
 * store (and nothing else: the keyring holds that one key), the way apt
 * checks an archive. Only the text gpgv says the signature covers is
 * returned (`--output`), and only when gpgv reports a valid signature by the
 * expected primary key (its VALIDSIG status line).
 */
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { KilnError } from '../error/kiln-error.js';
import { execTool } from '../process/run-tool.js';
import { checkClearSigned } from './release-file.js';

/** Returns the Release text `inRelease` signs; throws `peer_signature_invalid` unless `fingerprint`'s key signed it. */
export async function verifyInRelease(o: {
  inRelease: string;
  /** The signer's binary public key (its keyring). */
  keyring: Uint8Array;
  /** Its primary key's fingerprint (40 hex digits), which the signature must be by. */
  fingerprint: string;
  /** A directory for the check's temporary files (removed after). */
  workDir: string;
  /** Names the file in errors (`peer a: dists/bookworm/InRelease`). */
  what: string;
}): Promise<string> {
  checkClearSigned(o.inRelease, o.what);
  const dir = await mkdtemp(join(o.workDir, 'verify-'));
  try {
    const [keyring, signed, out] = ['key.gpg', 'InRelease', 'Release'].map((f) => join(dir, f)) as [
      string,
      string,
      string,
    ];
    await writeFile(keyring, o.keyring);
    await writeFile(signed, o.inRelease);
    const r = await execTool(
      'gpgv',
      ['--homedir', dir, '--keyring', keyring, '--status-fd', '1', '--output', out, signed],
      { env: { PATH: process.env['PATH'] ?? '/usr/bin:/bin', LANG: 'C' }, timeoutMs: 60_000 },
    ).catch((err: Error) => {
      throw new KilnError('internal', `gpgv could not run: ${err.message}; install gpgv (Debian)`);
    });
    // VALIDSIG <signing key fpr> <date> <ts> <expire> <version> <reserved> <algo> <hash> <class> <primary key fpr>
    const valid = /^\[GNUPG:\] VALIDSIG (?:\S+ ){9}([0-9A-F]{40})$/m.exec(r.stdout)?.[1];
    if (r.code !== 0 || valid !== o.fingerprint.toUpperCase())
      throw new KilnError(
        'peer_signature_invalid',
        `${o.what} does not verify with the peer's repo key ${o.fingerprint}: ${(r.stderr.trim() || r.stdout.trim()).split('\n').slice(-2).join(' ')}`,
      );
    return await readFile(out, 'utf8');
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}

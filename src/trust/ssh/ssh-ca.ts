// Kiln's SSH certificate authority: one Ed25519 key created on first start in
// the data directory, stored in OpenSSH's own private key format (so an
// operator can inspect or use it with ssh-keygen) plus the usual `.pub` line.
import { createPrivateKey, generateKeyPairSync, randomBytes, type KeyObject } from 'node:crypto';
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { KilnError } from '../../error/kiln-error.js';
import { silentLogger, type Logger } from '../../log/logger.js';
import { createPrivateFile, readPrivateFile } from '../key-file.js';
import {
  formatOpenSshEd25519PrivateKey,
  parseOpenSshEd25519PrivateKey,
  type Ed25519RawKey,
} from './openssh-private-key.js';
import {
  decodeSshPublicKeyBlob,
  encodeEd25519PublicBlob,
  formatSshFingerprint,
  formatSshPublicKey,
  parseSshPublicKey,
  type SshPublicKey,
} from './ssh-public-key.js';

/** File name of the CA private key inside the directory given to `loadOrCreateSshCa`. */
export const sshCaKeyFile = 'ssh_ca_ed25519';

/**
 * A loaded SSH CA. `privateKey` never leaves the controller; `publicKeyLine`
 * (`ssh-ed25519 AAAA… kiln-ssh-ca`) is what nodes and users trust.
 */
export interface SshCa {
  privateKey: KeyObject;
  publicKey: SshPublicKey;
  publicKeyLine: string;
  /** `SHA256:…` as `ssh-keygen -l` prints it, for logs and the UI. */
  fingerprint: string;
}

/**
 * Loads `<dir>/ssh_ca_ed25519`, creating it (mode 0600, directory 0700) and
 * `<dir>/ssh_ca_ed25519.pub` when absent. Call once at controller start.
 * Throws config_invalid when the file is unreadable, encrypted, not Ed25519
 * or readable by others.
 */
export async function loadOrCreateSshCa(dir: string, opts: { logger?: Logger; comment?: string } = {}): Promise<SshCa> {
  const log = opts.logger ?? silentLogger;
  const path = join(dir, sshCaKeyFile);
  let text = (await readPrivateFile(path))?.toString('utf8');
  if (text === undefined) {
    const fresh = generateEd25519(opts.comment ?? 'kiln-ssh-ca');
    const created = await createPrivateFile(path, formatOpenSshEd25519PrivateKey(fresh, randomBytes(4).readUInt32BE()));
    text = (await readPrivateFile(path))!.toString('utf8');
    if (created) log.info({ path }, 'created SSH CA key');
  }
  const ca = sshCaFromPrivateKey(text, path);
  await writeFile(`${path}.pub`, `${ca.publicKeyLine}\n`, { mode: 0o644 });
  log.info({ path, fingerprint: ca.fingerprint }, 'loaded SSH CA');
  return ca;
}

/**
 * Builds an SshCa from the text of an unencrypted OpenSSH Ed25519 private key
 * (ours, or one made with `ssh-keygen -t ed25519 -N ''`). `source` names the
 * file in error messages.
 */
export function sshCaFromPrivateKey(text: string, source: string): SshCa {
  const raw = parseOpenSshEd25519PrivateKey(text, source);
  const b64u = (b: Uint8Array) => Buffer.from(b).toString('base64url');
  let privateKey: KeyObject;
  try {
    privateKey = createPrivateKey({
      key: { kty: 'OKP', crv: 'Ed25519', d: b64u(raw.seed), x: b64u(raw.publicKey) },
      format: 'jwk',
    });
  } catch (err) {
    throw new KilnError('config_invalid', `${source} holds an invalid Ed25519 key`, { cause: err });
  }
  const publicKey = { ...decodeSshPublicKeyBlob(encodeEd25519PublicBlob(raw.publicKey)), comment: raw.comment };
  return {
    privateKey,
    publicKey,
    publicKeyLine: formatSshPublicKey(publicKey),
    fingerprint: formatSshFingerprint(publicKey.blob),
  };
}

/**
 * Formats the known_hosts line that makes an OpenSSH client trust every host
 * certificate signed by the CA for hosts matching `pattern` (sshd(8)
 * SSH_KNOWN_HOSTS FILE FORMAT, "@cert-authority" marker). No comment is kept.
 * @example formatCertAuthorityLine(ca.publicKey, '*.lab.example')
 */
export function formatCertAuthorityLine(caPub: SshPublicKey | string, pattern = '*'): string {
  const key = typeof caPub === 'string' ? parseSshPublicKey(caPub) : caPub;
  if (pattern === '' || /\s/.test(pattern)) {
    throw new KilnError(
      'validation_failed',
      'known_hosts host pattern must be non-empty and contain no spaces (use commas to list several)',
    );
  }
  return `@cert-authority ${pattern} ${formatSshPublicKey({ type: key.type, blob: key.blob })}`;
}

function generateEd25519(comment: string): Ed25519RawKey {
  const { privateKey } = generateKeyPairSync('ed25519');
  const jwk = privateKey.export({ format: 'jwk' });
  return { seed: Buffer.from(jwk.d!, 'base64url'), publicKey: Buffer.from(jwk.x!, 'base64url'), comment };
}

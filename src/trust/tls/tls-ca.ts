// Kiln's TLS certificate authority (ECDSA P-256: every curl, OpenSSL, Go and
// browser accepts it), created on first start in the data directory. Built
// with @peculiar/x509 on node's WebCrypto, passed explicitly so no global
// crypto provider is set.
import 'reflect-metadata';
import { webcrypto, X509Certificate as NodeX509 } from 'node:crypto';
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import * as x509 from '@peculiar/x509';
import { KilnError } from '../../error/kiln-error.js';
import { silentLogger, type Logger } from '../../log/logger.js';
import { createPrivateFile, readPrivateFile } from '../key-file.js';
import { exportPrivateKeyPem, importPrivateKeyPem } from './tls-key.js';

/** File names of the CA inside the directory given to `loadOrCreateTlsCa`. */
export const tlsCaFiles = { cert: 'ca.pem', key: 'ca-key.pem' } as const;

/** How long a new CA certificate is valid, in days. */
export const tlsCaValidityDays = 3650;

/**
 * A loaded TLS CA. `certPem` is public (operators give it to curl
 * `--cacert`); `signingKey` never leaves the controller.
 */
export interface TlsCa {
  certPem: string;
  cert: x509.X509Certificate;
  signingKey: webcrypto.CryptoKey;
}

/** Node's WebCrypto, typed as the DOM `Crypto` @peculiar/x509 expects; passed to every peculiar call. */
export const peculiarCrypto = webcrypto as unknown as Parameters<typeof x509.X509CertificateGenerator.create>[1];

/** Key algorithm of every key Kiln generates for TLS. */
export const ecdsaP256 = { name: 'ECDSA', namedCurve: 'P-256' } as const;
/** Signature algorithm for everything Kiln signs: ecdsa-with-SHA256 (RFC 5758 §3.2). */
export const signingAlgorithm = { name: 'ECDSA', hash: 'SHA-256' } as const;

/**
 * Loads the CA from `<dir>/ca-key.pem`, creating it on first start. That
 * file (0600) holds the private key followed by the CA certificate, created
 * in one atomic step so concurrent first starts agree on one CA;
 * `<dir>/ca.pem` (0644) is the public copy for operators, rewritten at every
 * load. `now` is injectable for tests. Throws config_invalid when the file
 * does not parse, key and certificate do not match, or others can read it.
 */
export async function loadOrCreateTlsCa(
  dir: string,
  opts: { logger?: Logger; now?: () => Date; commonName?: string } = {},
): Promise<TlsCa> {
  const log = opts.logger ?? silentLogger;
  const keyPath = join(dir, tlsCaFiles.key);
  let bundle = (await readPrivateFile(keyPath))?.toString('utf8');
  if (bundle === undefined) {
    const fresh = await createCa((opts.now ?? (() => new Date()))(), opts.commonName ?? 'Kiln CA');
    if (await createPrivateFile(keyPath, fresh)) log.info({ path: keyPath }, 'created TLS CA');
    bundle = (await readPrivateFile(keyPath))!.toString('utf8');
  }
  const certPem = /-----BEGIN CERTIFICATE-----[^-]+-----END CERTIFICATE-----/.exec(bundle)?.[0];
  const keyPem = /-----BEGIN (?:EC )?PRIVATE KEY-----[^-]+-----END (?:EC )?PRIVATE KEY-----/.exec(bundle)?.[0];
  if (certPem === undefined || keyPem === undefined) {
    throw new KilnError(
      'config_invalid',
      `${keyPath} must hold the CA private key followed by the CA certificate (PEM)`,
    );
  }
  const ca = await tlsCaFromPem(certPem, keyPem, keyPath);
  await writeFile(join(dir, tlsCaFiles.cert), ca.certPem, { mode: 0o644 });
  return ca;
}

async function createCa(now: Date, commonName: string): Promise<string> {
  const keys = await webcrypto.subtle.generateKey(ecdsaP256, true, ['sign', 'verify']);
  const cert = await x509.X509CertificateGenerator.createSelfSigned(
    {
      name: [{ CN: [commonName] }, { O: ['Kiln'] }],
      serialNumber: randomSerial(),
      notBefore: new Date(now.getTime() - 3600_000),
      notAfter: new Date(now.getTime() + tlsCaValidityDays * 86400_000),
      keys,
      signingAlgorithm,
      extensions: [
        // RFC 5280 §4.2.1.9: a CA MUST assert cA in a critical basicConstraints;
        // pathLen 0: this CA signs only end-entity certificates.
        new x509.BasicConstraintsExtension(true, 0, true),
        new x509.KeyUsagesExtension(x509.KeyUsageFlags.keyCertSign | x509.KeyUsageFlags.cRLSign, true),
        await x509.SubjectKeyIdentifierExtension.create(keys.publicKey, false, peculiarCrypto),
      ],
    },
    peculiarCrypto,
  );
  return `${await exportPrivateKeyPem(keys.privateKey)}${cert.toString('pem')}\n`;
}

/** Builds a TlsCa from PEM texts, checking that the key belongs to the certificate and that it is a CA. */
export async function tlsCaFromPem(certPem: string, keyPem: string, source: string): Promise<TlsCa> {
  let nodeCert: NodeX509;
  try {
    nodeCert = new NodeX509(certPem);
  } catch (err) {
    throw new KilnError('config_invalid', `${source} is not a PEM certificate`, { cause: err });
  }
  if (!nodeCert.ca)
    throw new KilnError('config_invalid', `${source} is not a CA certificate (basicConstraints cA is not set)`);
  const key = await importPrivateKeyPem(keyPem, source);
  if (!nodeCert.checkPrivateKey(key.keyObject))
    throw new KilnError('config_invalid', `${source} does not match its private key`);
  return { certPem: nodeCert.toString(), cert: new x509.X509Certificate(nodeCert.raw), signingKey: key.cryptoKey };
}

/** A random positive 128-bit serial as hex (RFC 5280 §4.1.2.2: positive, at most 20 octets). */
export function randomSerial(): string {
  const b = webcrypto.getRandomValues(new Uint8Array(16));
  b[0] = (b[0] & 0x7f) | 0x01;
  return Buffer.from(b).toString('hex');
}

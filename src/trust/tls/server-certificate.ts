// The API server's TLS certificate: issued by Kiln's TLS CA for the host
// names and addresses the operator configures, or loaded from files the
// operator supplies (then Kiln's CA is not involved).
import 'reflect-metadata';
import { createPrivateKey, webcrypto, X509Certificate as NodeX509 } from 'node:crypto';
import { readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import ipaddr from 'ipaddr.js';
import * as x509 from '@peculiar/x509';
import { KilnError } from '../../error/kiln-error.js';
import { silentLogger, type Logger } from '../../log/logger.js';
import { createPrivateFile, readPrivateFile } from '../key-file.js';
import { formatCertificateFingerprint } from './certificate-fingerprint.js';
import { ecdsaP256, peculiarCrypto, randomSerial, signingAlgorithm, type TlsCa } from './tls-ca.js';
import { exportPrivateKeyPem } from './tls-key.js';

/** File names of the issued server certificate inside the TLS directory. */
export const serverCertificateFiles = { cert: 'server.pem', key: 'server-key.pem' } as const;

/** Validity of an issued server certificate, in days (capped at the CA's own expiry). */
export const serverValidityDays = 825;
/** At start, a Kiln-issued server certificate with fewer days left than this is reissued. */
export const renewDays = 30;

/**
 * What node:https needs (`cert`, `key`) plus the fingerprint clients pin.
 * `certPem` holds the server certificate followed by the issuing CA (when
 * Kiln issued it), so clients that trust the CA can build the chain.
 */
export interface ServerCredentials {
  certPem: string;
  keyPem: string;
  /** `sha256:AB:…` of the server (leaf) certificate. */
  fingerprint: string;
  notAfter: Date;
  /** Every subjectAltName, `DNS:name` or `IP Address:addr` as node prints them. */
  subjectAltNames: string[];
}

/** The names a server certificate must carry. At least one name in total. */
export interface ServerNames {
  dnsNames: string[];
  ipAddresses: string[];
}

/**
 * Returns the server certificate in `dir`, issuing a new one signed by `ca`
 * when none exists, when it lacks any requested name, or when fewer than
 * `renewDays` remain. The key (0600) is kept across reissues; the fingerprint
 * changes, and the new one is logged (pinned clients must update).
 */
export async function loadOrIssueServerCertificate(
  dir: string,
  ca: TlsCa,
  names: ServerNames,
  opts: { logger?: Logger; now?: () => Date } = {},
): Promise<ServerCredentials> {
  const log = opts.logger ?? silentLogger;
  const now = (opts.now ?? (() => new Date()))();
  const wanted = validateNames(names);
  const keyPath = join(dir, serverCertificateFiles.key);
  const certPath = join(dir, serverCertificateFiles.cert);
  let keyPem = (await readPrivateFile(keyPath))?.toString('utf8');
  if (keyPem === undefined) {
    const keys = await webcrypto.subtle.generateKey(ecdsaP256, true, ['sign', 'verify']);
    await createPrivateFile(keyPath, await exportPrivateKeyPem(keys.privateKey));
    keyPem = (await readPrivateFile(keyPath))!.toString('utf8');
  }
  const existing = await readFile(certPath, 'utf8').catch(() => undefined);
  if (existing !== undefined) {
    const current = credentialsFromPem(existing, keyPem, certPath);
    const reason = reissueReason(current, wanted, now);
    if (reason === undefined) return current;
    log.info({ path: certPath, reason }, 'reissuing TLS server certificate');
  }
  const certPem = await issueServerCertificate(ca, keyPem, names, now);
  await writeFile(certPath, certPem, { mode: 0o644 });
  const creds = credentialsFromPem(certPem, keyPem, certPath);
  log.info(
    { path: certPath, fingerprint: creds.fingerprint, subjectAltNames: creds.subjectAltNames },
    'issued TLS server certificate',
  );
  return creds;
}

/**
 * Signs a server certificate for the public key of `keyPem` and returns the
 * PEM chain (server certificate, then the CA). Throws validation_failed for
 * an empty name list or a bad IP address or host name.
 */
export async function issueServerCertificate(
  ca: TlsCa,
  keyPem: string,
  names: ServerNames,
  now: Date,
): Promise<string> {
  validateNames(names);
  const pkcs8 = createPrivateKey(keyPem).export({ type: 'pkcs8', format: 'der' });
  const privateKey = await webcrypto.subtle.importKey('pkcs8', pkcs8, ecdsaP256, true, ['sign']);
  const jwk = await webcrypto.subtle.exportKey('jwk', privateKey);
  const publicKey = await webcrypto.subtle.importKey(
    'jwk',
    { kty: jwk.kty, crv: jwk.crv, x: jwk.x, y: jwk.y },
    ecdsaP256,
    true,
    ['verify'],
  );
  const cn = names.dnsNames[0] ?? names.ipAddresses[0];
  const crypto = peculiarCrypto;
  const cert = await x509.X509CertificateGenerator.create(
    {
      subject: [{ CN: [cn] }, { O: ['Kiln'] }],
      issuer: ca.cert.subjectName.toString(),
      serialNumber: randomSerial(),
      notBefore: new Date(now.getTime() - 3600_000),
      notAfter: new Date(Math.min(now.getTime() + serverValidityDays * 86400_000, ca.cert.notAfter.getTime())),
      publicKey,
      signingKey: ca.signingKey,
      signingAlgorithm,
      extensions: [
        new x509.BasicConstraintsExtension(false, undefined, true),
        new x509.KeyUsagesExtension(x509.KeyUsageFlags.digitalSignature, true),
        new x509.ExtendedKeyUsageExtension([x509.ExtendedKeyUsage.serverAuth]),
        // RFC 6125 §6.4.4 / CA/B BR: clients match names only against subjectAltName, never the CN.
        new x509.SubjectAlternativeNameExtension([
          ...names.dnsNames.map((value) => ({ type: 'dns' as const, value })),
          ...names.ipAddresses.map((value) => ({ type: 'ip' as const, value: ipaddr.parse(value).toString() })),
        ]),
        await x509.SubjectKeyIdentifierExtension.create(publicKey, false, crypto),
        await x509.AuthorityKeyIdentifierExtension.create(ca.cert, false, crypto),
      ],
    },
    crypto,
  );
  return `${cert.toString('pem')}\n${ca.certPem.trim()}\n`;
}

/**
 * Loads operator-supplied PEM files (certificate chain, leaf first, and its
 * unencrypted private key of any type node supports). Throws config_invalid
 * naming the file when either does not parse or they do not match.
 */
export async function loadServerCertificateFiles(files: {
  certFile: string;
  keyFile: string;
}): Promise<ServerCredentials> {
  const read = (p: string) =>
    readFile(p, 'utf8').catch((err: unknown) => {
      throw new KilnError('config_invalid', `cannot read ${p}: ${(err as Error).message}`, { cause: err });
    });
  return credentialsFromPem(await read(files.certFile), await read(files.keyFile), files.certFile);
}

function credentialsFromPem(certPem: string, keyPem: string, source: string): ServerCredentials {
  let leaf: NodeX509;
  try {
    leaf = new NodeX509(certPem);
  } catch (err) {
    throw new KilnError('config_invalid', `${source} is not a PEM certificate`, { cause: err });
  }
  let key;
  try {
    key = createPrivateKey(keyPem);
  } catch (err) {
    throw new KilnError(
      'config_invalid',
      `the private key for ${source} does not parse (expected an unencrypted PEM key)`,
      { cause: err },
    );
  }
  if (!leaf.checkPrivateKey(key)) throw new KilnError('config_invalid', `${source} does not match its private key`);
  return {
    certPem,
    keyPem,
    fingerprint: formatCertificateFingerprint(leaf),
    notAfter: new Date(leaf.validTo),
    subjectAltNames: (leaf.subjectAltName ?? '').split(', ').filter((s) => s !== ''),
  };
}

function reissueReason(current: ServerCredentials, wanted: string[], now: Date): string | undefined {
  const missing = wanted.filter((n) => !current.subjectAltNames.includes(n));
  if (missing.length > 0) return `missing ${missing.join(', ')}`;
  if (current.notAfter.getTime() - now.getTime() < renewDays * 86400_000)
    return `expires ${current.notAfter.toISOString()}`;
  return undefined;
}

// Returns the names in node's subjectAltName spelling, for comparison with an existing certificate.
function validateNames(names: ServerNames): string[] {
  const issues: Array<{ path: string; code: string; message: string }> = [];
  if (names.dnsNames.length + names.ipAddresses.length === 0)
    issues.push({
      path: 'names',
      code: 'empty',
      message: 'a server certificate needs at least one host name or IP address',
    });
  names.dnsNames.forEach((n, i) => {
    if (
      !/^(\*\.)?([a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?)(\.[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?)*$/i.test(n) ||
      n.length > 253
    ) {
      issues.push({ path: `dnsNames/${i}`, code: 'invalid_host_name', message: `"${n}" is not a valid host name` });
    }
  });
  names.ipAddresses.forEach((a, i) => {
    if (!ipaddr.isValid(a) || a.includes('%'))
      issues.push({ path: `ipAddresses/${i}`, code: 'invalid_ip', message: `"${a}" is not an IP address` });
  });
  if (issues.length > 0) throw new KilnError('validation_failed', issues.map((i) => i.message).join('; '), { issues });
  return [...names.dnsNames.map((n) => `DNS:${n}`), ...names.ipAddresses.map((a) => `IP Address:${nodeIpSpelling(a)}`)];
}

// node prints IPv6 SANs uncompressed in upper-case hex without leading zeros (::1 → "0:0:0:0:0:0:0:1").
function nodeIpSpelling(a: string): string {
  const ip = ipaddr.parse(a);
  return ip.kind() === 'ipv4' ? ip.toString() : (ip as ipaddr.IPv6).toNormalizedString().toUpperCase();
}

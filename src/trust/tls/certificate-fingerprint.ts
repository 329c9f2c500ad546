// The certificate fingerprint format Kiln prints and the CLI pins:
// "sha256:" + the SHA-256 of the certificate's DER bytes as upper-case hex
// pairs joined by colons (the form `openssl x509 -fingerprint -sha256` prints).
import { X509Certificate } from 'node:crypto';
import { KilnError } from '../../error/kiln-error.js';

const canonical = /^sha256:(?:[0-9A-F]{2}:){31}[0-9A-F]{2}$/;

/** Fingerprint of a PEM or DER certificate, e.g. `sha256:AB:CD:…` (95 hex-and-colon characters after the prefix). */
export function formatCertificateFingerprint(cert: string | Uint8Array | X509Certificate): string {
  const c =
    cert instanceof X509Certificate ? cert : new X509Certificate(typeof cert === 'string' ? cert : Buffer.from(cert));
  return `sha256:${c.fingerprint256}`;
}

/**
 * Normalises a fingerprint typed by an operator: accepts an optional
 * `sha256:`/`SHA256=` prefix, any case, and colons or none. Throws
 * validation_failed for anything that is not 32 bytes of hex.
 */
export function parseCertificateFingerprint(input: string): string {
  const hex = input
    .trim()
    .replace(/^sha256[:=]/i, '')
    .replace(/:/g, '')
    .toUpperCase();
  if (!/^[0-9A-F]{64}$/.test(hex)) {
    throw new KilnError(
      'validation_failed',
      'certificate fingerprint must be sha256: followed by 32 hex bytes (as `kiln serve` prints it)',
      {
        issues: [{ path: 'fingerprint', code: 'invalid_fingerprint', message: 'not a SHA-256 fingerprint' }],
      },
    );
  }
  const out = `sha256:${hex.match(/../g)!.join(':')}`;
  if (!canonical.test(out)) throw new KilnError('internal', 'fingerprint normalisation failed');
  return out;
}

import { X509Certificate } from 'node:crypto';
import type { TLSSocket } from 'node:tls';
import { Agent, buildConnector } from 'undici';
import { KilnError } from '../../error/kiln-error.js';
import type { Logger } from '../../log/logger.js';

/**
 * How a Redfish driver trusts its BMC. Exactly one of: `ca` (PEM bundle),
 * `fingerprint` (SHA-256 of the BMC's certificate, hex with or without
 * colons), `insecure: true` (accept any certificate, logged as a warning),
 * or nothing (the system trust store).
 */
export interface RedfishTlsOptions {
  ca?: string;
  fingerprint?: string;
  insecure?: boolean;
}

/** Lower-case hex without separators, as compared against a pin. */
export function normalizeFingerprint(fp: string): string {
  return fp.replace(/[^0-9a-fA-F]/g, '').toLowerCase();
}

/** SHA-256 fingerprint of a PEM certificate, in the form `normalizeFingerprint` produces. */
export function certificateFingerprint(pem: string): string {
  return normalizeFingerprint(new X509Certificate(pem).fingerprint256);
}

/**
 * Builds the undici dispatcher for one BMC. A pinned certificate is checked
 * after the handshake (chain validation is skipped: BMC certificates are
 * mostly self-signed, and the pin is stronger than a chain); a mismatch
 * destroys the socket before any request (and so any credential) is sent.
 */
export function createBmcDispatcher(tls: RedfishTlsOptions, timeoutMs: number, logger: Logger, address: string): Agent {
  const set = [tls.ca !== undefined, tls.fingerprint !== undefined, tls.insecure === true].filter(Boolean).length;
  if (set > 1) {
    throw new KilnError(
      'validation_failed',
      'Redfish TLS: give only one of options.ca, options.fingerprint, options.insecure',
      {
        issues: [{ path: '/bmc/options', code: 'tls_conflict', message: 'ca, fingerprint and insecure are exclusive' }],
      },
    );
  }
  const common = { headersTimeout: timeoutMs, bodyTimeout: timeoutMs, connectTimeout: timeoutMs };
  if (tls.insecure) {
    logger.warn(
      { bmc: address },
      'Redfish TLS verification disabled for this BMC (options.insecure); its certificate is not checked',
    );
    return new Agent({ ...common, connect: { rejectUnauthorized: false, timeout: timeoutMs } });
  }
  if (tls.fingerprint !== undefined) {
    const pin = normalizeFingerprint(tls.fingerprint);
    // No TLS session cache: a resumed session may not expose the peer certificate to check.
    const base = buildConnector({ rejectUnauthorized: false, timeout: timeoutMs, maxCachedSessions: 0 });
    return new Agent({
      ...common,
      connect: (opts, cb) =>
        base(opts, (err, socket) => {
          if (err || !socket) {
            cb(err ?? new Error('connect failed'), null);
            return;
          }
          const cert = (socket as TLSSocket).getPeerCertificate?.();
          const got = cert?.fingerprint256 ? normalizeFingerprint(cert.fingerprint256) : '';
          if (got !== pin) {
            socket.destroy();
            cb(
              new KilnError(
                'bmc_error',
                `BMC ${address} presented certificate ${got || '(none)'}, not the pinned ${pin}`,
              ),
              null,
            );
            return;
          }
          cb(null, socket);
        }),
    });
  }
  return new Agent({ ...common, connect: { ca: tls.ca, timeout: timeoutMs } });
}

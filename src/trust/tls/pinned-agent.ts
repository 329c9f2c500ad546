// Certificate pinning for Kiln's own clients (the CLI, a second controller):
// the server is trusted when its leaf certificate's SHA-256 fingerprint equals
// the pinned one, whoever issued it. Chain and name checks are replaced by
// the pin, not added to it: a pinned self-signed or Kiln-CA certificate works
// without distributing the CA first.
import type { PeerCertificate, TLSSocket } from 'node:tls';
import { Agent, buildConnector } from 'undici';
import { KilnError } from '../../error/kiln-error.js';
import { parseCertificateFingerprint } from './certificate-fingerprint.js';

/**
 * True when `cert` (from `socket.getPeerCertificate()`) has the pinned
 * fingerprint. `pin` is any spelling `parseCertificateFingerprint` accepts.
 */
export function matchesPin(cert: Pick<PeerCertificate, 'fingerprint256'> | undefined, pin: string): boolean {
  if (!cert?.fingerprint256) return false;
  return `sha256:${cert.fingerprint256}` === parseCertificateFingerprint(pin);
}

/**
 * An undici connector that completes the TLS handshake without CA
 * verification and then accepts the socket only when the peer's leaf
 * certificate matches `pin`; otherwise the socket is destroyed and the
 * request fails with KilnError tls_pin_mismatch. TLS session resumption is
 * off, so every connection presents (and is checked against) a certificate.
 */
export function createPinnedConnector(pin: string, opts: { timeoutMs?: number } = {}): buildConnector.connector {
  const expected = parseCertificateFingerprint(pin);
  // The pin replaces chain verification (see file comment); it is checked below before any byte is sent.
  const base = buildConnector({ rejectUnauthorized: false, maxCachedSessions: 0, timeout: opts.timeoutMs ?? 10_000 });
  return (options, callback) => {
    base(options, (err, socket) => {
      if (err !== null) {
        callback(err, null);
        return;
      }
      const tlsSocket = socket as TLSSocket;
      const cert = typeof tlsSocket.getPeerCertificate === 'function' ? tlsSocket.getPeerCertificate() : undefined;
      if (!matchesPin(cert, expected)) {
        tlsSocket.destroy();
        const got = cert?.fingerprint256 ? `sha256:${cert.fingerprint256}` : 'no certificate (not a TLS connection?)';
        callback(
          new KilnError(
            'tls_pin_mismatch',
            `${options.hostname}:${options.port} presented ${got}, expected ${expected}`,
          ),
          null,
        );
        return;
      }
      callback(null, tlsSocket);
    });
  };
}

/**
 * An undici Agent (pass as `dispatcher` to `request`/`fetch`) that talks only
 * to servers presenting the pinned certificate. The caller owns it and calls
 * `close()` when done.
 */
export function createPinnedAgent(pin: string, opts: { timeoutMs?: number } = {}): Agent {
  return new Agent({ connect: createPinnedConnector(pin, opts) });
}

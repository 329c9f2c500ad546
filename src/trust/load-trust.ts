// One call for `main`: load (or create on first start) every key the
// controller holds, from fixed places under the data directory.
//
//   <dataDir>/ssh/ssh_ca_ed25519(.pub)   SSH CA (OpenSSH format)
//   <dataDir>/tls/ca-key.pem, ca.pem      TLS CA (key+cert bundle; public copy)
//   <dataDir>/tls/server-key.pem, .pem    API server certificate (unless operator files are given)
//   <dataDir>/data.key                    secret-box key for BMC passwords
import { join } from 'node:path';
import { silentLogger, type Logger } from '../log/logger.js';
import { loadOrCreateDataKey, type DataKey } from './credential/secret-box.js';
import { loadOrCreateSshCa, type SshCa } from './ssh/ssh-ca.js';
import {
  loadOrIssueServerCertificate,
  loadServerCertificateFiles,
  type ServerCredentials,
  type ServerNames,
} from './tls/server-certificate.js';
import { loadOrCreateTlsCa, type TlsCa } from './tls/tls-ca.js';

/** Where the API's TLS certificate comes from: issued by Kiln's CA for these names, or the operator's files. */
export type ServerCertificateSource =
  ({ kind: 'issue' } & ServerNames) | { kind: 'files'; certFile: string; keyFile: string };

/** Everything `loadTrust` returns; lives for the whole controller process. */
export interface Trust {
  sshCa: SshCa;
  tlsCa: TlsCa;
  server: ServerCredentials;
  dataKey: DataKey;
}

/**
 * Loads or creates the SSH CA, TLS CA, API server certificate and data key.
 * Call once at start, before any listener. Throws config_invalid naming the
 * file when a key is unreadable, damaged or readable by others.
 */
export async function loadTrust(opts: {
  dataDir: string;
  server: ServerCertificateSource;
  logger?: Logger;
  now?: () => Date;
}): Promise<Trust> {
  const logger = (opts.logger ?? silentLogger).child({ component: 'trust' });
  const sshCa = await loadOrCreateSshCa(join(opts.dataDir, 'ssh'), { logger });
  const tlsDir = join(opts.dataDir, 'tls');
  const tlsCa = await loadOrCreateTlsCa(tlsDir, { logger, now: opts.now });
  const server =
    opts.server.kind === 'files'
      ? await loadServerCertificateFiles(opts.server)
      : await loadOrIssueServerCertificate(tlsDir, tlsCa, opts.server, { logger, now: opts.now });
  logger.info(
    { fingerprint: server.fingerprint, notAfter: server.notAfter.toISOString() },
    'API TLS certificate (pin this fingerprint in the CLI)',
  );
  const dataKey = await loadOrCreateDataKey(opts.dataDir);
  return { sshCa, tlsCa, server, dataKey };
}

import { createSocket } from 'node:dgram';
import { decodeTftp, encodeTftp } from '../../protocols/tftp/packet.js';
import { fail, ok, type Check } from '../check.js';

/** The address a probe reaches a server listening on `host` at (a wildcard is reached on loopback). */
export function probeHost(host: string): string {
  return host === '0.0.0.0' || host === '' ? '127.0.0.1' : host === '::' ? '::1' : host;
}

/** A file name no boot ever asks for: the server answers it with ERROR (file not found), which is the answer we want. */
export const TFTP_PROBE_FILE = 'kiln-doctor-probe';

/**
 * `tftp-probe`: Kiln's TFTP server answers a read request sent to its own
 * listen address (ERROR file-not-found for the probe name is an answer).
 */
export function tftpProbeCheck(o: {
  address: () => { address: string; port: number } | null;
  timeoutMs?: number;
}): Check {
  return {
    name: 'tftp-probe',
    async run(signal) {
      const a = o.address();
      if (a === null) return ok('TFTP is off');
      const host = probeHost(a.address);
      const sock = createSocket(host.includes(':') ? 'udp6' : 'udp4');
      try {
        const reply = await new Promise<string | null>((resolve) => {
          const t = setTimeout(() => resolve(null), o.timeoutMs ?? 2000);
          signal.addEventListener('abort', () => resolve(null), { once: true });
          sock.on('message', (msg) => {
            clearTimeout(t);
            try {
              resolve(decodeTftp(new Uint8Array(msg.buffer, msg.byteOffset, msg.length)).op);
            } catch {
              resolve('malformed');
            }
          });
          sock.on('error', () => resolve(null));
          sock.send(encodeTftp({ op: 'rrq', filename: TFTP_PROBE_FILE, mode: 'octet', options: [] }), a.port, host);
        });
        if (reply === null || reply === 'malformed')
          return fail(
            `no ${reply === null ? '' : 'valid '}answer from TFTP at ${host}:${a.port} within 2 s`,
            'see the kiln serve log (domain tftp); is a firewall dropping UDP 69 on this machine?',
          );
        return ok(`TFTP at ${host}:${a.port} answered a read request (${reply})`);
      } finally {
        sock.close();
      }
    },
  };
}

/** `http-probe`: Kiln's plain HTTP listener (what firmware and nodes fetch from) answers GET /api/v1/health. */
export function httpProbeCheck(o: { url: () => string | null; timeoutMs?: number }): Check {
  return {
    name: 'http-probe',
    async run(signal) {
      const base = o.url();
      if (base === null) return fail('the HTTP server is not listening', 'see the kiln serve log');
      const url = `${base}/api/v1/health`;
      const fix = 'see the kiln serve log; is a firewall or another process on the listen port?';
      try {
        const res = await fetch(url, { signal: AbortSignal.any([signal, AbortSignal.timeout(o.timeoutMs ?? 2000)]) });
        const body = await res.text();
        if (res.status !== 200 || !body.includes('"ok"')) return fail(`${url} answered ${res.status}`, fix);
        return ok(`${url} answered 200`);
      } catch (err) {
        return fail(`${url} did not answer: ${(err as Error).message}`, fix);
      }
    },
  };
}

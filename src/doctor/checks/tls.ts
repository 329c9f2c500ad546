import { X509Certificate } from 'node:crypto';
import { fail, ok, warn, type Check } from '../check.js';

const DAY_MS = 86_400_000;

/**
 * `tls-certificate`: the HTTPS API certificate is valid now, and not within
 * `warnDays` (default 30) of its end.
 */
export function tlsCheck(o: {
  /** The served certificate (PEM); null when HTTPS is off. */
  certPem: () => string | null;
  /** Where it came from, for the fix (`tls-cert-file` path, or Kiln's CA). */
  source: { kind: 'files'; certFile: string } | { kind: 'issued' };
  warnDays?: number;
  now?: () => number;
}): Check {
  const now = o.now ?? Date.now;
  const renew =
    o.source.kind === 'files'
      ? `replace ${o.source.certFile} (and its key) with a renewed certificate, then restart kiln serve`
      : 'restart kiln serve: it issues a new certificate from its CA when the old one is near its end';
  return {
    name: 'tls-certificate',
    async run() {
      const pem = o.certPem();
      if (pem === null) return ok('HTTPS is off (tls-listen is empty)');
      const cert = new X509Certificate(pem);
      const from = Date.parse(cert.validFrom);
      const to = Date.parse(cert.validTo);
      const t = now();
      if (t < from)
        return fail(
          `certificate not valid until ${cert.validFrom} (clock or certificate wrong)`,
          `check the clock; ${renew}`,
        );
      if (t > to) return fail(`certificate expired on ${cert.validTo}`, renew);
      const days = Math.floor((to - t) / DAY_MS);
      if (days < (o.warnDays ?? 30)) return warn(`certificate expires in ${days} days (${cert.validTo})`, renew);
      return ok(`certificate valid until ${cert.validTo} (${days} days)`);
    },
  };
}

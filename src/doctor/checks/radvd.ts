import { readFile } from 'node:fs/promises';
import { fail, ok, type Check } from '../check.js';

/** The process name of a PID (`/proc/PID/comm`), or null when there is no such process. */
export type ProcessName = (pid: number) => Promise<string | null>;

const procName: ProcessName = (pid) =>
  readFile(`/proc/${pid}/comm`, 'utf8').then(
    (s) => s.trim(),
    () => null,
  );

/**
 * `radvd`: when Kiln answers IPv6 router solicitations (`dhcp.routerAdvertisements`
 * with a boot interface), its radvd child is alive. When RA is not configured
 * the check says so and passes.
 */
export function radvdCheck(o: {
  /** Interfaces radvd serves; null when router advertisements are not configured. */
  interfaces: readonly string[] | null;
  pid: () => number | null;
  name?: ProcessName;
}): Check {
  const nameOf = o.name ?? procName;
  return {
    name: 'radvd',
    async run() {
      if (o.interfaces === null)
        return ok('router advertisements are not configured (no DHCP boot interface): radvd not needed');
      const pid = o.pid();
      const fix =
        "see the kiln serve log (domain ra) for why radvd exits; is Debian's radvd installed (/usr/sbin/radvd) and do the interfaces have an IPv6 link-local address? Restart kiln serve after fixing";
      if (pid === null) return fail(`radvd is not running for ${o.interfaces.join(', ')}`, fix);
      const name = await nameOf(pid);
      if (name !== 'radvd') return fail(`radvd's pid ${pid} is ${name === null ? 'gone' : `now ${name}`}`, fix);
      return ok(`radvd (pid ${pid}) answers on ${o.interfaces.join(', ')}`);
    },
  };
}

/**
 * Which host sent a syslog message. Syslog is unauthenticated UDP, so this
 * only labels a line for display and search: it never changes a host.
 *
 *   1. the source address holds a bound DHCP lease → the host with that MAC;
 *   2. else the message's HOSTNAME (or its first label) is a host's name → that host (a hint: anyone can claim a name);
 *   3. else unknown (null): the line is kept and counted.
 */

/** The lookups attribution needs, given by the composition root (services, never another domain's store). */
export interface SyslogAttributionLookups {
  /** The MAC holding a bound, unexpired lease on `ip`, or null. */
  leaseOwner(ip: string): Promise<string | null>;
  /** The id of the host with a NIC of this MAC, or null. */
  hostIdByMac(mac: string): Promise<string | null>;
  /** The id of the host with this name, or null. */
  hostIdByName(name: string): Promise<string | null>;
}

/** How a message was attributed: `lease` (source address), `hostname` (its HOSTNAME, a hint), or `unknown`. */
export type AttributionKind = 'lease' | 'hostname' | 'unknown';

/** `::ffff:10.0.0.5` (a dual-stack socket's IPv4 peer) as `10.0.0.5`. */
export function plainAddress(ip: string): string {
  return ip.startsWith('::ffff:') && ip.includes('.') ? ip.slice(7) : ip;
}

/**
 * Attributes messages one batch at a time: each distinct address and host
 * name of the batch is looked up once (a flood from one host costs one lookup
 * per batch, not per line).
 */
export function createAttributor(lookups: SyslogAttributionLookups) {
  return async function attributeBatch(
    items: ReadonlyArray<{ sourceIp: string; hostname: string | null }>,
  ): Promise<Array<{ hostId: string | null; by: AttributionKind }>> {
    const byIp = new Map<string, Promise<string | null>>();
    const byName = new Map<string, Promise<string | null>>();
    const ipLookup = (ip: string) => {
      let p = byIp.get(ip);
      if (!p) {
        p = lookups.leaseOwner(ip).then((mac) => (mac ? lookups.hostIdByMac(mac) : null));
        byIp.set(ip, p);
      }
      return p;
    };
    const nameLookup = async (name: string) => {
      let p = byName.get(name);
      if (!p) {
        const short = name.split('.')[0];
        p = lookups
          .hostIdByName(name)
          .then((id) => id ?? (short && short !== name ? lookups.hostIdByName(short) : null));
        byName.set(name, p);
      }
      return p;
    };
    const out: Array<{ hostId: string | null; by: AttributionKind }> = [];
    for (const it of items) {
      const leased = await ipLookup(plainAddress(it.sourceIp));
      if (leased) {
        out.push({ hostId: leased, by: 'lease' });
        continue;
      }
      const named = it.hostname ? await nameLookup(it.hostname) : null;
      out.push(named ? { hostId: named, by: 'hostname' } : { hostId: null, by: 'unknown' });
    }
    return out;
  };
}

import { inCidr, ipToNumber, numberToIp } from '../../boot/dhcp/subnet-math.js';
import { fail, ok, type Check } from '../check.js';

/** One subnet DHCP serves: its interface when attached (resolved at start), none when relayed. */
export interface ServedDhcpSubnet {
  cidr: string;
  interface?: string | undefined;
}

/** What the check asks the OS (ip-link.ts has the iproute2 ones). */
export interface NetworkView {
  /** This machine's IPv4 addresses now, by interface. */
  addresses: () => Promise<ReadonlyArray<{ interface: string; address: string }>>;
  /** True when the link is administratively up. */
  linkUp: (dev: string) => Promise<boolean>;
  /** The interface the kernel routes `ip` through, or null when it has no route. */
  routeDev: (ip: string) => Promise<string | null>;
}

/**
 * `dhcp-sockets`: each attached subnet's interface has a DHCP socket bound to
 * it (or an unbound one), is up and still holds an address in the subnet
 * (replies leave there); each relayed subnet has a route for replies to its
 * relay. DHCP off: passes, saying so.
 */
export function dhcpSocketsCheck(o: {
  enabled: boolean;
  subnets: readonly ServedDhcpSubnet[];
  /** The running server's sockets (port 67 and 4011), or null when it is not running. */
  listeners: () => ReadonlyArray<{ interface?: string | undefined; port: number }> | null;
  net: NetworkView;
}): Check {
  return {
    name: 'dhcp-sockets',
    async run() {
      if (!o.enabled) return ok('DHCP is off');
      const socks = o.listeners();
      if (socks === null)
        return fail('the DHCP server is not running', 'see the kiln serve log (domain dhcp) and restart it');
      const local = await o.net.addresses();
      const seen: string[] = [];
      for (const s of o.subnets) {
        if (s.interface === undefined) {
          const probe = numberToIp(ipToNumber(s.cidr.split('/')[0]) + 1);
          const dev = await o.net.routeDev(probe);
          if (dev === null)
            return fail(
              `relayed subnet ${s.cidr}: no route for replies to its relay`,
              `add a route to ${s.cidr} via the router that relays it (ip route add ${s.cidr} via …)`,
            );
          seen.push(`${s.cidr} relayed via ${dev}`);
          continue;
        }
        const dev = s.interface;
        if (!socks.some((l) => l.port === 67 && (l.interface === dev || l.interface === undefined)))
          return fail(
            `no DHCP socket bound on ${dev} for ${s.cidr}`,
            'restart kiln serve; see its log (domain dhcp) for the bind error',
          );
        if (!(await o.net.linkUp(dev))) return fail(`${dev} (${s.cidr}) is down`, `ip link set ${dev} up`);
        if (!local.some((a) => a.interface === dev && inCidr(a.address, s.cidr)))
          return fail(
            `${dev} no longer holds an address in ${s.cidr}: replies cannot leave there`,
            `give ${dev} its address in ${s.cidr} again (ip addr add …/${s.cidr.split('/')[1]} dev ${dev}), then restart kiln serve`,
          );
        seen.push(`${s.cidr} on ${dev}`);
      }
      return ok(`sockets bound: ${seen.join(', ') || 'one unbound socket'}`);
    },
  };
}

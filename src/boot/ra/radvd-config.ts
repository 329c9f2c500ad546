import { INTERFACE_NAME } from './ra-config.js';

/**
 * radvd.conf for Kiln's one use of router advertisements: end iPXE's IPv6
 * wait without offering anything. Per interface (radvd.conf(5)):
 *   AdvDefaultLifetime 0   RFC 4861 §4.2: 0 = "not a default router"; hosts
 *                          MUST NOT add it to their default router list.
 *   no prefix/route/RDNSS  no client gets an address, route or DNS from Kiln.
 *   Managed/Other off      no DHCPv6 either (iPXE would start it).
 *   AdvCurHopLimit 0       RFC 4861 §4.2: 0 = unspecified; hosts keep theirs.
 *   UnicastOnly on         no unsolicited (periodic) RAs: only a host that
 *                          sends a router solicitation gets an answer, unicast.
 * The intervals then only matter to radvd's own checks (MinRtrAdvInterval ≤
 * 0.75 × MaxRtrAdvInterval, RFC 4861 §6.2.1); radvd's defaults are kept.
 */
export function formatRadvdConfig(interfaces: readonly string[]): string {
  // The schema already refuses such names; a name is pasted into radvd's syntax, so check again here.
  const bad = interfaces.find((name) => !new RegExp(INTERFACE_NAME).test(name));
  if (bad !== undefined) throw new Error(`not an interface name: ${JSON.stringify(bad)}`);
  return interfaces
    .map((name) =>
      [
        `interface ${name} {`,
        '  AdvSendAdvert on;',
        '  UnicastOnly on;',
        '  IgnoreIfMissing on;',
        '  AdvDefaultLifetime 0;',
        '  AdvManagedFlag off;',
        '  AdvOtherConfigFlag off;',
        '  AdvCurHopLimit 0;',
        '  AdvSourceLLAddress on;',
        '  MinRtrAdvInterval 198;',
        '  MaxRtrAdvInterval 600;',
        '};',
        '',
      ].join('\n'),
    )
    .join('');
}

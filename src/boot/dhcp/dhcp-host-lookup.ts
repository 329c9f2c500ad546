import type { HostByMacLookup } from '../../inventory/inventory-service.js';
import { parseMac } from '../../net/mac.js';
import type { DhcpBackend } from './dhcp-server.js';

/** `DhcpBackend.findHostByMac` over a host-by-MAC lookup: the reserved address is the label `dhcp.ip`, the host name its first label. */
export function dhcpHostLookup(lookup: HostByMacLookup): DhcpBackend['findHostByMac'] {
  return async (mac) => {
    const m = parseMac(mac);
    const h = m ? await lookup(m) : null;
    return h ? { hostId: h.id, state: h.state, hostname: h.name.split('.')[0], reservedIp: h.labels['dhcp.ip'] } : null;
  };
}

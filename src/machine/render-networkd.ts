import { WRITTEN_BY, type LinkKind, type NetLink, type NetModel } from './network-model.js';

/**
 * systemd-networkd units for a checked network: a `.network` per NIC matched
 * by its permanent MAC (a bond member's current MAC is the bond's),
 * `.netdev` + `.network` per bond, VLAN and bridge. Pure; files in name order.
 */
export function renderNetworkd(model: NetModel): Array<{ name: string; text: string }> {
  const files: Array<{ name: string; text: string }> = [];
  const order: Record<LinkKind, number> = { interface: 10, bond: 20, vlan: 30, bridge: 40 };
  const byId = new Map(model.links.map((l) => [l.id, l]));
  const networkFile = (l: NetLink): string => {
    const out = [WRITTEN_BY, '[Match]'];
    out.push(l.kind === 'interface' ? `PermanentMACAddress=${l.mac}` : `Name=${l.id}`);
    if (l.kind === 'interface') out.push('Type=ether');
    if (l.mtu !== undefined && l.kind !== 'bridge') out.push('', '[Link]', `MTUBytes=${l.mtu}`);
    out.push('', '[Network]');
    const m = l.master;
    if (m) out.push(m.kind === 'bond' ? `Bond=${m.id}` : `Bridge=${m.id}`);
    if (m?.kind === 'bond' && byId.get(m.id)?.bond?.primary === l.id) out.push('PrimarySlave=yes');
    for (const v of l.vlans) out.push(`VLAN=${v}`);
    const a = l.l3;
    if (a) {
      if (a.dhcp) out.push('DHCP=ipv4');
      for (const addr of a.addresses) out.push(`Address=${addr}`);
      if (a.gateway !== undefined) out.push(`Gateway=${a.gateway}`);
      for (const d of a.dns) out.push(`DNS=${d}`);
      for (const t of a.ntp) out.push(`NTP=${t}`);
      if (a.domains.length) out.push(`Domains=${a.domains.join(' ')}`);
    } else if (!m) out.push('LinkLocalAddressing=no', 'IPv6AcceptRA=no', 'ConfigureWithoutCarrier=yes');
    return `${out.join('\n')}\n`;
  };
  for (const l of model.links) {
    const base = `${order[l.kind]}-kiln-${l.id}`;
    if (l.bond) {
      const bond = [
        WRITTEN_BY,
        '[NetDev]',
        `Name=${l.id}`,
        'Kind=bond',
        ...(l.mtu !== undefined ? [`MTUBytes=${l.mtu}`] : []),
        '',
        '[Bond]',
        `Mode=${l.bond.mode}`,
        `MIIMonitorSec=${l.bond.miimonMs}ms`,
        ...(l.bond.mode === '802.3ad' ? ['LACPTransmitRate=fast', 'TransmitHashPolicy=layer3+4'] : []),
        ...(l.bond.mode === 'active-backup' ? ['FailOverMACPolicy=none'] : []),
      ];
      files.push({ name: `${base}.netdev`, text: `${bond.join('\n')}\n` });
    }
    if (l.vlan) {
      const vlan = [WRITTEN_BY, '[NetDev]', `Name=${l.id}`, 'Kind=vlan'];
      if (l.mtu !== undefined) vlan.push(`MTUBytes=${l.mtu}`);
      vlan.push('', '[VLAN]', `Id=${l.vlan.vid}`);
      files.push({ name: `${base}.netdev`, text: `${vlan.join('\n')}\n` });
    }
    if (l.bridge) {
      const br = [WRITTEN_BY, '[NetDev]', `Name=${l.id}`, 'Kind=bridge', '', '[Bridge]'];
      br.push(`STP=${l.bridge.stp ? 'yes' : 'no'}`);
      files.push({ name: `${base}.netdev`, text: `${br.join('\n')}\n` });
    }
    files.push({ name: `${base}.network`, text: networkFile(l) });
  }
  return files.sort((a, b) => (a.name < b.name ? -1 : 1));
}

/** /etc/resolv.conf for an image without a resolver service ('' when the description gives no DNS). */
export function renderResolvConf(model: NetModel): string {
  const resolv = [
    ...(model.domains.length ? [`search ${model.domains.join(' ')}`] : []),
    ...model.dns.slice(0, 3).map((d) => `nameserver ${d}`),
  ];
  return resolv.length ? `${WRITTEN_BY}\n${resolv.join('\n')}\n` : '';
}

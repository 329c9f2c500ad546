import ipaddr from 'ipaddr.js';
import type { ErrorIssue } from '../error/kiln-error.js';
import type { MachineFacts, MachineSubnet } from './machine-facts.js';
import type { NetworkDescription } from './machine-schema.js';

/** The installed system's network: systemd-networkd units as text, and what the writer needs besides. */
export interface NetworkPlan {
  /** Files for /etc/systemd/network, in name order. */
  files: Array<{ name: string; text: string }>;
  /** /etc/resolv.conf for an image without systemd-resolved ('' when no DNS is given). */
  resolvConf: string;
  /** MACs of every physical NIC the description configures (NetworkManager is told to leave them alone). */
  macs: string[];
  /** The static IPv4 addresses the installed system holds (no prefix), in description order: its SSH host certificate names them. */
  addresses: string[];
}

type LinkKind = 'interface' | 'bond' | 'vlan' | 'bridge';

function subnetOf(ip: string, subnets: MachineSubnet[]): MachineSubnet | undefined {
  if (!ipaddr.IPv4.isValidFourPartDecimal(ip)) return undefined;
  const a = ipaddr.IPv4.parse(ip);
  return subnets.find((s) => {
    try {
      return a.match(ipaddr.IPv4.parseCIDR(s.cidr));
    } catch {
      return false;
    }
  });
}

const validCidr = (c: string): boolean => {
  const [ip, bits] = c.split('/');
  return ipaddr.IPv4.isValidFourPartDecimal(ip ?? '') && Number(bits) <= 32;
};

/**
 * Checks a network description against the host's NICs and Kiln's subnets and
 * renders systemd-networkd units: `.network` files matching physical NICs by
 * their permanent MAC (bond members take the bond's MAC), `.netdev` files for
 * bonds, VLANs and bridges. Pure. Issues carry stable codes (`unknown_nic`,
 * `unknown_link`, `member_twice`, `member_addressed`, `no_reservation`, …).
 */
export function planNetwork(n: NetworkDescription, facts: MachineFacts): { plan?: NetworkPlan; issues: ErrorIssue[] } {
  const issues: ErrorIssue[] = [];
  const issue = (path: string, code: string, message: string): void => void issues.push({ path, code, message });
  const kinds = new Map<string, LinkKind>();
  const define = (id: string, kind: LinkKind, path: string): void => {
    if (kinds.has(id)) issue(path, 'duplicate_id', `link id "${id}" is used twice`);
    kinds.set(id, kind);
  };
  const macOf = new Map<string, string>();
  n.interfaces.forEach((i, ii) => {
    const path = `/network/interfaces/${ii}`;
    define(i.id, 'interface', `${path}/id`);
    if ((i.mac === undefined) === (i.boot === undefined)) {
      issue(path, 'interface_match', `interface "${i.id}" needs exactly one of mac or boot: true`);
      return;
    }
    const mac = i.mac ? i.mac.toLowerCase().replace(/-/g, ':') : facts.bootMac;
    if (!mac) issue(path, 'unknown_nic', `interface "${i.id}" is the boot NIC, but the host has no boot MAC`);
    else if (!facts.macs.includes(mac))
      issue(
        `${path}/mac`,
        'unknown_nic',
        `interface "${i.id}" names NIC ${mac}, which the host does not have (its NICs: ${facts.macs.join(', ') || 'none known'})`,
      );
    if ([...macOf.values()].includes(mac)) issue(`${path}/mac`, 'nic_twice', `NIC ${mac} is described twice`);
    macOf.set(i.id, mac);
  });
  (n.bonds ?? []).forEach((b, i) => define(b.id, 'bond', `/network/bonds/${i}/id`));
  (n.vlans ?? []).forEach((v, i) => define(v.id, 'vlan', `/network/vlans/${i}/id`));
  (n.bridges ?? []).forEach((b, i) => define(b.id, 'bridge', `/network/bridges/${i}/id`));

  /** Link id → the bond or bridge it is a member of. */
  const master = new Map<string, { kind: 'bond' | 'bridge'; id: string }>();
  const vlansOn = new Map<string, string[]>();
  const member = (m: string, of: { kind: 'bond' | 'bridge'; id: string }, path: string, allowed: LinkKind[]): void => {
    const k = kinds.get(m);
    if (!k)
      return issue(path, 'unknown_link', `${of.kind} "${of.id}" names "${m}", which is no link of this description`);
    if (!allowed.includes(k))
      return issue(path, 'bad_member', `${of.kind} "${of.id}" cannot take ${k} "${m}" as a member`);
    const had = master.get(m);
    if (had)
      return issue(path, 'member_twice', `"${m}" is a member of ${had.kind} "${had.id}" and of ${of.kind} "${of.id}"`);
    master.set(m, of);
  };
  (n.bonds ?? []).forEach((b, bi) => {
    b.members.forEach((m, mi) =>
      member(m, { kind: 'bond', id: b.id }, `/network/bonds/${bi}/members/${mi}`, ['interface']),
    );
    if (b.primary !== undefined && !b.members.includes(b.primary))
      issue(
        `/network/bonds/${bi}/primary`,
        'unknown_link',
        `bond "${b.id}": primary "${b.primary}" is not one of its members`,
      );
    if (b.primary !== undefined && b.mode !== 'active-backup')
      issue(`/network/bonds/${bi}/primary`, 'bad_primary', `bond "${b.id}": primary applies to active-backup only`);
  });
  (n.bridges ?? []).forEach((b, bi) =>
    b.members.forEach((m, mi) =>
      member(m, { kind: 'bridge', id: b.id }, `/network/bridges/${bi}/members/${mi}`, ['interface', 'bond', 'vlan']),
    ),
  );
  (n.vlans ?? []).forEach((v, vi) => {
    const k = kinds.get(v.link);
    if (!k || k === 'vlan')
      issue(
        `/network/vlans/${vi}/link`,
        'unknown_link',
        `VLAN "${v.id}" sits on "${v.link}", which is ${k ? 'a VLAN itself' : 'no link of this description'}`,
      );
    else if (master.get(v.link)?.kind === 'bond')
      issue(
        `/network/vlans/${vi}/link`,
        'bad_member',
        `VLAN "${v.id}" sits on "${v.link}", a member of bond "${master.get(v.link)!.id}": put it on the bond`,
      );
    vlansOn.set(v.link, [...(vlansOn.get(v.link) ?? []), v.id]);
  });

  /** Link id → [Network] lines for its addressing. */
  const l3 = new Map<string, string[]>();
  const dnsAll: string[] = [];
  const addressesAll: string[] = [];
  const domainsAll: string[] = [];
  n.addressing.forEach((a, ai) => {
    const path = `/network/addressing/${ai}`;
    if (!kinds.has(a.link))
      return issue(
        `${path}/link`,
        'unknown_link',
        `addressing names "${a.link}", which is no link of this description`,
      );
    if (master.has(a.link))
      return issue(
        `${path}/link`,
        'member_addressed',
        `"${a.link}" is a member of ${master.get(a.link)!.kind} "${master.get(a.link)!.id}": address the ${master.get(a.link)!.kind}`,
      );
    if (l3.has(a.link)) return issue(`${path}/link`, 'addressed_twice', `"${a.link}" is addressed twice`);
    const lines: string[] = [];
    let subnet: MachineSubnet | undefined;
    if (a.dhcp) lines.push('DHCP=ipv4');
    for (const [i, addr] of (a.addresses ?? []).entries()) {
      if (addr === 'reservation') {
        subnet = subnetOf(facts.reservedIp, facts.subnets);
        if (!facts.reservedIp) {
          issue(
            `${path}/addresses/${i}`,
            'no_reservation',
            `"${a.link}" takes the host's reservation, but the host has none (set label dhcp.ip)`,
          );
          continue;
        }
        if (!subnet) {
          issue(
            `${path}/addresses/${i}`,
            'no_subnet',
            `the host's reservation ${facts.reservedIp} is in none of Kiln's DHCP subnets (${facts.subnets.map((s) => s.cidr).join(', ') || 'none configured'})`,
          );
          continue;
        }
        lines.push(`Address=${facts.reservedIp}/${subnet.cidr.split('/')[1]}`);
        addressesAll.push(facts.reservedIp);
      } else if (!validCidr(addr))
        issue(`${path}/addresses/${i}`, 'bad_address', `"${addr}" is not an IPv4 address with a prefix`);
      else {
        lines.push(`Address=${addr}`);
        addressesAll.push(addr.split('/')[0]);
      }
    }
    if (a.gateway === 'reservation') {
      if (subnet?.router) lines.push(`Gateway=${subnet.router}`);
      else if (subnet)
        issue(`${path}/gateway`, 'no_router', `subnet ${subnet.cidr} has no router to use as the gateway`);
      else
        issue(
          `${path}/gateway`,
          'no_reservation',
          `gateway: reservation needs an address from the reservation on the same link`,
        );
    } else if (a.gateway !== undefined) lines.push(`Gateway=${a.gateway}`);
    const dns = a.dns ?? subnet?.dns ?? [];
    const ntp = a.ntp ?? subnet?.ntp ?? [];
    for (const d of dns) lines.push(`DNS=${d}`);
    for (const t of ntp) lines.push(`NTP=${t}`);
    if (a.domains?.length) lines.push(`Domains=${a.domains.join(' ')}`);
    dnsAll.push(...dns.filter((d) => !dnsAll.includes(d)));
    domainsAll.push(...(a.domains ?? []));
    if (!a.dhcp && !(a.addresses ?? []).length)
      issue(path, 'no_address', `addressing of "${a.link}" gives neither dhcp nor addresses`);
    l3.set(a.link, lines);
  });
  if (issues.length > 0) return { issues };

  const files: NetworkPlan['files'] = [];
  const order: Record<LinkKind, number> = { interface: 10, bond: 20, vlan: 30, bridge: 40 };
  const mtuOf = new Map<string, number | undefined>([
    ...n.interfaces.map((i) => [i.id, i.mtu] as const),
    ...(n.bonds ?? []).map((b) => [b.id, b.mtu] as const),
    ...(n.vlans ?? []).map((v) => [v.id, v.mtu] as const),
  ]);
  const networkFile = (id: string, kind: LinkKind): string => {
    const out = ['# Written by Kiln from the machine description.', '[Match]'];
    out.push(kind === 'interface' ? `PermanentMACAddress=${macOf.get(id)}` : `Name=${id}`);
    if (kind === 'interface') out.push('Type=ether');
    const mtu = mtuOf.get(id);
    if (mtu !== undefined) out.push('', '[Link]', `MTUBytes=${mtu}`);
    out.push('', '[Network]');
    const m = master.get(id);
    if (m) out.push(m.kind === 'bond' ? `Bond=${m.id}` : `Bridge=${m.id}`);
    const bond = m?.kind === 'bond' ? n.bonds?.find((b) => b.id === m.id) : undefined;
    if (bond?.primary === id) out.push('PrimarySlave=yes');
    for (const v of vlansOn.get(id) ?? []) out.push(`VLAN=${v}`);
    const lines = l3.get(id);
    if (lines) out.push(...lines);
    else if (!m) out.push('LinkLocalAddressing=no', 'IPv6AcceptRA=no', 'ConfigureWithoutCarrier=yes');
    return `${out.join('\n')}\n`;
  };
  for (const i of n.interfaces)
    files.push({ name: `${order.interface}-kiln-${i.id}.network`, text: networkFile(i.id, 'interface') });
  for (const b of n.bonds ?? []) {
    const bond = [
      '# Written by Kiln from the machine description.',
      '[NetDev]',
      `Name=${b.id}`,
      'Kind=bond',
      ...(b.mtu !== undefined ? [`MTUBytes=${b.mtu}`] : []),
      '',
      '[Bond]',
      `Mode=${b.mode}`,
      `MIIMonitorSec=${b.miimonMs ?? 100}ms`,
      ...(b.mode === '802.3ad' ? ['LACPTransmitRate=fast', 'TransmitHashPolicy=layer3+4'] : []),
      ...(b.mode === 'active-backup' ? ['FailOverMACPolicy=none'] : []),
    ];
    files.push({ name: `${order.bond}-kiln-${b.id}.netdev`, text: `${bond.join('\n')}\n` });
    files.push({ name: `${order.bond}-kiln-${b.id}.network`, text: networkFile(b.id, 'bond') });
  }
  for (const v of n.vlans ?? []) {
    const vlan = ['# Written by Kiln from the machine description.', '[NetDev]', `Name=${v.id}`, 'Kind=vlan'];
    if (v.mtu !== undefined) vlan.push(`MTUBytes=${v.mtu}`);
    vlan.push('', '[VLAN]', `Id=${v.vlan}`);
    files.push({ name: `${order.vlan}-kiln-${v.id}.netdev`, text: `${vlan.join('\n')}\n` });
    files.push({ name: `${order.vlan}-kiln-${v.id}.network`, text: networkFile(v.id, 'vlan') });
  }
  for (const b of n.bridges ?? []) {
    const br = [
      '# Written by Kiln from the machine description.',
      '[NetDev]',
      `Name=${b.id}`,
      'Kind=bridge',
      '',
      '[Bridge]',
      `STP=${b.stp ? 'yes' : 'no'}`,
    ];
    files.push({ name: `${order.bridge}-kiln-${b.id}.netdev`, text: `${br.join('\n')}\n` });
    files.push({ name: `${order.bridge}-kiln-${b.id}.network`, text: networkFile(b.id, 'bridge') });
  }
  files.sort((a, b) => (a.name < b.name ? -1 : 1));
  const resolv = [
    ...(domainsAll.length ? [`search ${domainsAll.join(' ')}`] : []),
    ...dnsAll.slice(0, 3).map((d) => `nameserver ${d}`),
  ];
  return {
    plan: {
      files,
      resolvConf: resolv.length ? `# Written by Kiln from the machine description.\n${resolv.join('\n')}\n` : '',
      macs: [...new Set(macOf.values())].filter(Boolean),
      addresses: [...new Set(addressesAll)],
    },
    issues,
  };
}

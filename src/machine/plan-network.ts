import ipaddr from 'ipaddr.js';
import type { ErrorIssue } from '../error/kiln-error.js';
import type { MachineFacts, MachineSubnet } from './machine-facts.js';
import type { NetworkDescription } from './machine-schema.js';
import type { LinkKind, LinkL3, NetLink, NetModel, StackPlan } from './network-model.js';
import { renderIfupdown } from './render-ifupdown.js';
import { renderNetworkd, renderResolvConf } from './render-networkd.js';
import { renderNetworkManager } from './render-networkmanager.js';

/**
 * The installed system's network, rendered for each stack an image may run
 * (the writer detects which one in the written root): systemd-networkd units,
 * ifupdown stanzas and NetworkManager keyfiles, and what the writer needs besides.
 */
export interface NetworkPlan {
  /** systemd-networkd: files for /etc/systemd/network, in name order. */
  files: Array<{ name: string; text: string }>;
  /** /etc/resolv.conf for an image without systemd-resolved ('' when no DNS is given). */
  resolvConf: string;
  /** MACs of every physical NIC the description configures (NetworkManager is told to leave them alone). */
  macs: string[];
  /** The static IPv4 addresses the installed system holds (no prefix), in description order: its SSH host certificate names them. */
  addresses: string[];
  /** ifupdown: /etc/network/interfaces.d/kiln, NICs named by MAC (.link), what the image needs, what ifupdown cannot do. */
  ifupdown: StackPlan;
  /** NetworkManager: keyfiles (0600) matched by MAC, NICs named by MAC (.link), needs and refusals. */
  networkManager: StackPlan;
}

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
 * renders it for systemd-networkd, ifupdown and NetworkManager (the writer
 * picks the one the image runs). Pure. Issues carry stable codes (`unknown_nic`,
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

  /** Link id → its layer 3. */
  const l3 = new Map<string, LinkL3>();
  const dnsAll: string[] = [];
  const addressesAll: string[] = [];
  const domainsAll: string[] = [];
  const ntpAll: string[] = [];
  const addAll = (to: string[], from: string[]): void => void to.push(...from.filter((x) => !to.includes(x)));
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
    const out: LinkL3 = { dhcp: a.dhcp === true, addresses: [], dns: [], ntp: [], domains: a.domains ?? [] };
    let subnet: MachineSubnet | undefined;
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
        out.addresses.push(`${facts.reservedIp}/${subnet.cidr.split('/')[1]}`);
        addressesAll.push(facts.reservedIp);
      } else if (!validCidr(addr))
        issue(`${path}/addresses/${i}`, 'bad_address', `"${addr}" is not an IPv4 address with a prefix`);
      else {
        out.addresses.push(addr);
        addressesAll.push(addr.split('/')[0]);
      }
    }
    if (a.gateway === 'reservation') {
      if (subnet?.router) out.gateway = subnet.router;
      else if (subnet)
        issue(`${path}/gateway`, 'no_router', `subnet ${subnet.cidr} has no router to use as the gateway`);
      else
        issue(
          `${path}/gateway`,
          'no_reservation',
          `gateway: reservation needs an address from the reservation on the same link`,
        );
    } else if (a.gateway !== undefined) out.gateway = a.gateway;
    out.dns = a.dns ?? subnet?.dns ?? [];
    out.ntp = a.ntp ?? subnet?.ntp ?? [];
    addAll(dnsAll, out.dns);
    addAll(domainsAll, out.domains);
    addAll(ntpAll, out.ntp);
    if (!a.dhcp && !(a.addresses ?? []).length)
      issue(path, 'no_address', `addressing of "${a.link}" gives neither dhcp nor addresses`);
    l3.set(a.link, out);
  });
  if (issues.length > 0) return { issues };

  const link = (id: string, kind: LinkKind, mtu: number | undefined): NetLink => ({
    id,
    kind,
    ...(kind === 'interface' ? { mac: macOf.get(id)! } : {}),
    ...(mtu !== undefined ? { mtu } : {}),
    ...(master.has(id) ? { master: master.get(id)! } : {}),
    vlans: vlansOn.get(id) ?? [],
    ...(l3.has(id) ? { l3: l3.get(id)! } : {}),
  });
  const model: NetModel = {
    links: [
      ...n.interfaces.map((i) => link(i.id, 'interface', i.mtu)),
      ...(n.bonds ?? []).map((b) => ({
        ...link(b.id, 'bond', b.mtu),
        bond: {
          mode: b.mode,
          ...(b.primary !== undefined ? { primary: b.primary } : {}),
          miimonMs: b.miimonMs ?? 100,
          members: b.members,
        },
      })),
      ...(n.vlans ?? []).map((v) => ({ ...link(v.id, 'vlan', v.mtu), vlan: { vid: v.vlan, link: v.link } })),
      ...(n.bridges ?? []).map((b) => ({
        ...link(b.id, 'bridge', undefined),
        bridge: { stp: b.stp === true, members: b.members },
      })),
    ],
    dns: dnsAll,
    domains: domainsAll,
    ntp: ntpAll,
  };
  return {
    plan: {
      files: renderNetworkd(model),
      resolvConf: renderResolvConf(model),
      macs: [...new Set(macOf.values())].filter(Boolean),
      addresses: [...new Set(addressesAll)],
      ifupdown: renderIfupdown(model),
      networkManager: renderNetworkManager(model),
    },
    issues,
  };
}

import {
  WRITTEN_BY,
  dependencyOrder,
  imagePaths,
  linkFiles,
  ntpFiles,
  othersLeaveAlone,
  renameRefusals,
  type NetLink,
  type NetModel,
  type RootFile,
  type StackPlan,
} from './network-model.js';
import { renderResolvConf } from './render-networkd.js';

/** Where the stanzas go; the writer makes /etc/network/interfaces source it. */
export const IFUPDOWN_FILE = '/etc/network/interfaces.d/kiln';

const dhcpClients = [
  '/sbin/dhclient',
  '/usr/sbin/dhclient',
  '/sbin/dhcpcd',
  '/usr/sbin/dhcpcd',
  '/sbin/udhcpc',
  '/usr/sbin/udhcpc',
];

/**
 * The device name ifupdown gives a link: a NIC its id (the .link file renames
 * it), a bond or bridge its id, a VLAN `<link>.<vid>` — ifupdown's own VLAN
 * naming (`bond0.20`), which it and bridge-utils make without the vlan
 * package; an arbitrary VLAN name would need hand-written `ip link` commands.
 */
export function ifupdownName(model: NetModel, id: string): string {
  const l = model.links.find((x) => x.id === id);
  if (!l?.vlan) return id;
  return `${ifupdownName(model, l.vlan.link)}.${l.vlan.vid}`;
}

/**
 * The network for an ifupdown image (Debian's ifupdown 0.8 with ifenslave
 * and bridge-utils): one file of stanzas in dependency order (`ifup -a` goes
 * in `auto` order), NICs named by their permanent MAC (systemd .link files,
 * applied by udev before networking.service's `ifup -a`), DNS as
 * `dns-nameservers` (ifupdown's resolvconf/resolved hooks) and
 * /etc/resolv.conf when the image has neither, NTP for timesyncd or chrony.
 * Pure.
 */
export function renderIfupdown(model: NetModel): StackPlan {
  const name = (id: string): string => ifupdownName(model, id);
  const refusals = renameRefusals(model, 'ifupdown');
  for (const l of model.links)
    if (l.l3?.dhcp && l.l3.gateway !== undefined)
      refusals.push(
        `ifupdown takes a DHCP link's default route from DHCP: "${l.id}" has DHCP and gateway ${l.l3.gateway}, a second default route that ifup fails to add; drop the gateway or the DHCP`,
      );
  for (const l of model.links)
    if (l.vlan && name(l.id).length > 15)
      refusals.push(
        `ifupdown names VLAN "${l.id}" ${name(l.id)} (its link and VLAN id), longer than the kernel's 15 characters: use a shorter id for "${l.vlan.link}"`,
      );

  const stanzas: string[] = [];
  const iface = (l: NetLink): void => {
    const dev = name(l.id);
    const a = l.l3;
    // Link-level options (MTU, bond, bridge) go in the first stanza; ifupdown's dhcp method takes no mtu, so a DHCP
    // link that has any gets a manual stanza for them first (ifup applies every stanza of a name, in order).
    const link: string[] = [];
    if (l.mtu !== undefined) link.push(`mtu ${l.mtu}`);
    if (l.bond) {
      link.push(`bond-slaves ${l.bond.members.map(name).join(' ')}`);
      link.push(`bond-mode ${l.bond.mode}`, `bond-miimon ${l.bond.miimonMs}`);
      if (l.bond.primary !== undefined) link.push(`bond-primary ${name(l.bond.primary)}`);
      if (l.bond.mode === '802.3ad') link.push('bond-lacp-rate fast', 'bond-xmit-hash-policy layer3+4');
    }
    if (l.bridge)
      link.push(
        `bridge_ports ${l.bridge.members.map(name).join(' ') || 'none'}`,
        `bridge_stp ${l.bridge.stp ? 'on' : 'off'}`,
      );
    const dns: string[] = [];
    if (a?.dns.length) dns.push(`dns-nameservers ${a.dns.join(' ')}`);
    if (a?.domains.length) dns.push(`dns-search ${a.domains.join(' ')}`);
    const addrs = [...(a?.addresses ?? [])];
    const gw = a?.gateway !== undefined && !a.dhcp ? [`gateway ${a.gateway}`] : [];
    const out: Array<{ method: string; opts: string[] }> = [];
    if (a?.dhcp) {
      if (link.length) out.push({ method: 'manual', opts: link });
      out.push({ method: 'dhcp', opts: dns });
      if (addrs.length) out.push({ method: 'static', opts: [`address ${addrs.shift()}`, ...gw] });
    } else if (addrs.length) out.push({ method: 'static', opts: [`address ${addrs.shift()}`, ...gw, ...link, ...dns] });
    else out.push({ method: 'manual', opts: link });
    for (const x of addrs) out.push({ method: 'static', opts: [`address ${x}`] });
    out.forEach((st, i) => {
      const head = i > 0 ? [] : [l.master?.kind === 'bond' ? `allow-${l.master.id} ${dev}` : `auto ${dev}`];
      stanzas.push([...head, `iface ${dev} inet ${st.method}`, ...st.opts.map((o) => `    ${o}`)].join('\n'));
    });
  };
  for (const l of dependencyOrder(model)) iface(l);

  const needs: StackPlan['needs'] = [];
  const need = (anyOf: string[], reason: string): void => void needs.push({ anyOf, reason });
  need(
    imagePaths.udevd,
    'ifupdown names NICs, and Kiln names them by MAC with systemd .link files: the image has no systemd-udevd to apply them',
  );
  for (const l of model.links) {
    if (l.bond)
      need(
        ['/etc/network/if-pre-up.d/ifenslave'],
        `bond "${l.id}" needs the ifenslave package in the image (ifupdown makes bonds with it)`,
      );
    if (l.bridge)
      need(
        ['/etc/network/if-pre-up.d/bridge'],
        `bridge "${l.id}" needs the bridge-utils package in the image (ifupdown makes bridges with it)`,
      );
    if (l.l3?.dhcp)
      need(
        dhcpClients,
        `"${l.id}" asks for DHCP, and the image has no DHCP client ifupdown can run (isc-dhcp-client, udhcpc or dhcpcd)`,
      );
  }

  const devices = model.links.map((l) => name(l.id));
  const nics = model.links.filter((l) => l.kind === 'interface');
  const files: RootFile[] = [
    {
      path: IFUPDOWN_FILE,
      text: `${WRITTEN_BY}\n# NICs carry the description's ids: /etc/systemd/network/10-kiln-*.link name them by permanent MAC.\n\n${stanzas.join('\n\n')}\n`,
      mode: '0644',
    },
    ...linkFiles(model),
    ...othersLeaveAlone(
      nics.map((l) => l.mac!),
      devices,
      'ifupdown',
    ),
    ...ntpFiles(model),
  ];
  const resolv = renderResolvConf(model);
  if (resolv)
    files.push({
      path: '/etc/resolv.conf',
      text: resolv,
      mode: '0644',
      // ifupdown hands dns-nameservers to resolvconf or to an enabled systemd-resolved itself.
      unlessAny: [
        '/sbin/resolvconf',
        '/usr/sbin/resolvconf',
        '/etc/systemd/system/multi-user.target.wants/systemd-resolved.service',
      ],
    });
  return { files, needs, refusals };
}

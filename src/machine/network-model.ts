/**
 * The machine description's network after it was checked against the host:
 * every link with its resolved MAC, master, VLANs and layer 3, in the
 * description's order (interfaces, bonds, VLANs, bridges). The renderers
 * (systemd-networkd, ifupdown, NetworkManager) read only this.
 */
export type LinkKind = 'interface' | 'bond' | 'vlan' | 'bridge';

/** Layer 3 on one link; addresses are CIDRs (a reservation already resolved), the gateway an address. */
export interface LinkL3 {
  dhcp: boolean;
  addresses: string[];
  gateway?: string;
  dns: string[];
  ntp: string[];
  domains: string[];
}

export interface NetLink {
  id: string;
  kind: LinkKind;
  /** interface: its (permanent) MAC, lower case. */
  mac?: string;
  mtu?: number;
  /** The bond or bridge this link is a member of. */
  master?: { kind: 'bond' | 'bridge'; id: string };
  /** Ids of the VLANs that sit on this link. */
  vlans: string[];
  l3?: LinkL3;
  bond?: { mode: 'active-backup' | '802.3ad'; primary?: string; miimonMs: number; members: string[] };
  vlan?: { vid: number; link: string };
  bridge?: { stp: boolean; members: string[] };
}

export interface NetModel {
  links: NetLink[];
  /** Every DNS server, search domain and NTP server of the description, first seen first. */
  dns: string[];
  domains: string[];
  ntp: string[];
}

/** A file the writer puts into the image root: only when one of `ifAny` exists there, not when one of `unlessAny` does. */
export interface RootFile {
  path: string;
  text: string;
  mode: '0600' | '0644';
  ifAny?: string[];
  unlessAny?: string[];
}

/**
 * What one network stack (ifupdown, NetworkManager) gets: its files, what the
 * image must have for them to work (the writer checks each `anyOf` in the
 * written root and fails with `reason`), and what the stack cannot do with
 * this description (the writer refuses with these when the image runs it).
 */
export interface StackPlan {
  files: RootFile[];
  needs: Array<{ anyOf: string[]; reason: string }>;
  refusals: string[];
}

export const WRITTEN_BY = '# Written by Kiln from the machine description.';

/** The links in an order where each comes after the links it needs (a VLAN after its link, a bond or bridge after its members). */
export function dependencyOrder(model: NetModel): NetLink[] {
  const byId = new Map(model.links.map((l) => [l.id, l]));
  const out: NetLink[] = [];
  const seen = new Set<string>();
  const visit = (l: NetLink): void => {
    if (seen.has(l.id)) return;
    seen.add(l.id);
    const deps = [...(l.vlan ? [l.vlan.link] : []), ...(l.bond?.members ?? []), ...(l.bridge?.members ?? [])];
    for (const d of deps) {
      const dl = byId.get(d);
      if (dl) visit(dl);
    }
    out.push(l);
  };
  model.links.forEach(visit);
  return out;
}

/** Paths that show a stack or tool is in an image root. */
export const imagePaths = {
  udevd: ['/lib/systemd/systemd-udevd', '/usr/lib/systemd/systemd-udevd'],
  networkd: ['/lib/systemd/systemd-networkd', '/usr/lib/systemd/systemd-networkd'],
  networkManager: ['/usr/sbin/NetworkManager', '/sbin/NetworkManager'],
  timesyncd: ['/lib/systemd/systemd-timesyncd', '/usr/lib/systemd/systemd-timesyncd'],
  chrony: ['/etc/chrony/chrony.conf'],
};

/**
 * NTP pointers for the stacks that carry none themselves (ifupdown,
 * NetworkManager): a systemd-timesyncd drop-in, or chrony's sources.d
 * (Debian's chrony.conf reads it), whichever the image has.
 */
export function ntpFiles(model: NetModel): RootFile[] {
  if (model.ntp.length === 0) return [];
  return [
    {
      path: '/etc/systemd/timesyncd.conf.d/10-kiln.conf',
      text: `${WRITTEN_BY}\n[Time]\nNTP=${model.ntp.join(' ')}\n`,
      mode: '0644',
      ifAny: imagePaths.timesyncd,
    },
    {
      path: '/etc/chrony/sources.d/kiln.sources',
      text: `${WRITTEN_BY}\n${model.ntp.map((s) => `server ${s} iburst`).join('\n')}\n`,
      mode: '0644',
      ifAny: imagePaths.chrony,
    },
  ];
}

/**
 * systemd .link files naming each described NIC by its id, matched by its
 * permanent MAC (udev applies them when the NIC appears, before any network
 * stack starts; a bond member's current MAC becomes the bond's, its permanent
 * one does not change). ifupdown names devices in bond-slaves, bridge_ports
 * and VLAN parents, NetworkManager in a bond's primary and a VLAN's parent.
 */
export function linkFiles(model: NetModel): RootFile[] {
  return model.links
    .filter((l) => l.kind === 'interface')
    .map((l) => ({
      path: `/etc/systemd/network/10-kiln-${l.id}.link`,
      text: `${WRITTEN_BY} The NIC with this permanent MAC is named ${l.id}.\n[Match]\nPermanentMACAddress=${l.mac}\n\n[Link]\nName=${l.id}\n`,
      mode: '0644' as const,
    }));
}

/** A NIC id that would rename a NIC into the kernel's own names (eth0, …) races the kernel at boot. */
export function renameRefusals(model: NetModel, stack: string): string[] {
  return model.links
    .filter((l) => l.kind === 'interface' && /^(eth[0-9]+|lo)$/.test(l.id))
    .map(
      (l) =>
        `${stack} images get each NIC named by its id (a .link file per MAC), and "${l.id}" is a name the kernel gives itself: renaming into it races the kernel at boot; use another id (such as n0)`,
    );
}

/** A gateway needs a static address on its link in ifupdown and NetworkManager (DHCP alone brings its own). */
export function gatewayRefusals(model: NetModel, stack: string): string[] {
  return model.links
    .filter((l) => l.l3?.gateway !== undefined && l.l3.addresses.length === 0)
    .map(
      (l) =>
        `${stack} takes a gateway only beside a static address: "${l.id}" has DHCP and gateway ${l.l3!.gateway} but no address; drop the gateway (DHCP gives one) or add an address`,
    );
}

/**
 * Files that keep the other stacks off the described devices, written only
 * when the image has that stack: a systemd-networkd unit (sorting first, so
 * it wins over the image's own catch-all units) marking them unmanaged, and a
 * NetworkManager conf.d naming them unmanaged.
 */
export function othersLeaveAlone(macs: string[], devices: string[], stack: string): RootFile[] {
  const out: RootFile[] = [
    {
      path: '/etc/systemd/network/00-kiln-unmanaged-nics.network',
      text: `${WRITTEN_BY} ${stack} runs these NICs.\n[Match]\nPermanentMACAddress=${macs.join(' ')}\n\n[Link]\nUnmanaged=yes\n`,
      mode: '0644',
      ifAny: imagePaths.networkd,
    },
    {
      path: '/etc/systemd/network/00-kiln-unmanaged-links.network',
      text: `${WRITTEN_BY} ${stack} runs these devices.\n[Match]\nName=${devices.join(' ')}\n\n[Link]\nUnmanaged=yes\n`,
      mode: '0644',
      ifAny: imagePaths.networkd,
    },
  ];
  if (stack !== 'NetworkManager')
    out.push({
      path: '/etc/NetworkManager/conf.d/10-kiln-unmanaged.conf',
      text: `${WRITTEN_BY} ${stack} runs these devices.\n[keyfile]\nunmanaged-devices=${[...macs.map((m) => `mac:${m}`), ...devices.map((d) => `interface-name:${d}`)].join(';')}\n`,
      mode: '0644',
      ifAny: imagePaths.networkManager,
    });
  return out;
}

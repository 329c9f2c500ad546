import { createHash } from 'node:crypto';
import {
  WRITTEN_BY,
  gatewayRefusals,
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

export const NM_CONNECTIONS = '/etc/NetworkManager/system-connections';

/** A name-based UUID (RFC 4122 version 5 layout over SHA-1): the same description and NICs give the same UUID. */
function uuidFor(name: string): string {
  const h = createHash('sha1').update(`kiln-machine-network:${name}`).digest();
  h[6] = (h[6] & 0x0f) | 0x50;
  h[8] = (h[8] & 0x3f) | 0x80;
  const x = h.subarray(0, 16).toString('hex');
  return `${x.slice(0, 8)}-${x.slice(8, 12)}-${x.slice(12, 16)}-${x.slice(16, 20)}-${x.slice(20, 32)}`;
}

const nmType = { interface: 'ethernet', bond: 'bond', vlan: 'vlan', bridge: 'bridge' } as const;

/**
 * One keyfile, written the way NetworkManager 1.42 itself writes it
 * (`nmcli --offline connection add` prints the same keys): ethernet
 * connections match their NIC by `[ethernet] mac-address=`, bond and bridge
 * ports name their controller in `master=`, layer 3 in [ipv4] (the gateway
 * beside the first address, as NetworkManager normalises it).
 */
function keyfile(l: NetLink, seed: string): string {
  const s: string[] = [WRITTEN_BY, '[connection]', `id=kiln-${l.id}`, `uuid=${uuidFor(`${seed}/${l.id}`)}`];
  s.push(`type=${nmType[l.kind]}`, 'autoconnect-priority=100');
  if (l.kind !== 'interface') s.push(`interface-name=${l.id}`);
  if (l.master) s.push(`master=${l.master.id}`, `slave-type=${l.master.kind}`);
  const eth: string[] = [];
  if (l.mac) eth.push(`mac-address=${l.mac}`);
  if (l.mtu !== undefined) eth.push(`mtu=${l.mtu}`);
  if (eth.length) s.push('', '[ethernet]', ...eth);
  if (l.bond) {
    s.push('', '[bond]');
    if (l.bond.mode === '802.3ad') s.push('lacp_rate=fast');
    s.push(`miimon=${l.bond.miimonMs}`, `mode=${l.bond.mode}`);
    if (l.bond.primary !== undefined) s.push(`primary=${l.bond.primary}`);
    if (l.bond.mode === '802.3ad') s.push('xmit_hash_policy=layer3+4');
  }
  if (l.vlan) s.push('', '[vlan]', `id=${l.vlan.vid}`, `parent=${l.vlan.link}`);
  // NetworkManager's bridges run STP unless told not to (its default, which it leaves out of a keyfile).
  if (l.bridge) s.push('', '[bridge]', ...(l.bridge.stp ? [] : ['stp=false']));
  if (!l.master) {
    const a = l.l3;
    s.push('', '[ipv4]');
    if (!a) s.push('method=disabled');
    else {
      a.addresses.forEach((x, i) =>
        s.push(`address${i + 1}=${x}${i === 0 && a.gateway !== undefined ? `,${a.gateway}` : ''}`),
      );
      if (a.dns.length) s.push(`dns=${a.dns.map((d) => `${d};`).join('')}`);
      if (a.domains.length) s.push(`dns-search=${a.domains.map((d) => `${d};`).join('')}`);
      s.push(`method=${a.dhcp ? 'auto' : 'manual'}`);
    }
    s.push('', '[ipv6]', `method=${a ? 'auto' : 'disabled'}`);
  }
  return `${s.join('\n')}\n`;
}

/**
 * The network for a NetworkManager image: a keyfile per link in
 * /etc/NetworkManager/system-connections (0600, as NetworkManager requires;
 * NICs matched by MAC), the NICs named by their ids (.link files: a bond's
 * `primary` and a VLAN's `parent` are interface names), NTP for timesyncd or
 * chrony (NetworkManager sets none), networkd told to keep off. Pure.
 */
export function renderNetworkManager(model: NetModel): StackPlan {
  const seed = model.links
    .filter((l) => l.mac)
    .map((l) => l.mac)
    .join(',');
  const refusals = [...renameRefusals(model, 'NetworkManager'), ...gatewayRefusals(model, 'NetworkManager')];
  const files: RootFile[] = [
    ...model.links.map((l) => ({
      path: `${NM_CONNECTIONS}/kiln-${l.id}.nmconnection`,
      text: keyfile(l, seed),
      mode: '0600' as const,
    })),
    ...linkFiles(model),
    ...othersLeaveAlone(
      model.links.filter((l) => l.mac).map((l) => l.mac!),
      model.links.map((l) => l.id),
      'NetworkManager',
    ),
    ...ntpFiles(model),
  ];
  const needs = [
    {
      anyOf: imagePaths.udevd,
      reason:
        'Kiln names NICs by MAC with systemd .link files (a bond primary and a VLAN parent are interface names): the image has no systemd-udevd to apply them',
    },
  ];
  return { files, needs, refusals };
}

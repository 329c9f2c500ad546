import { XMLBuilder, XMLParser } from 'fast-xml-parser';
import { KilnError } from '../../error/kiln-error.js';
import { parseReportedMacs } from '../../net/mac.js';
import type { BootDevice, SystemInventory } from '../power-driver.js';

// preserveOrder keeps libvirt's element order and every attribute intact on rewrite.
const opts = {
  preserveOrder: true,
  ignoreAttributes: false,
  attributeNamePrefix: '@_',
  commentPropName: '#comment',
} as const;
type Node = Record<string, unknown> & { ':@'?: Record<string, string> };

const children = (n: Node, name: string): Node[] => (n[name] as Node[] | undefined) ?? [];
const find = (list: Node[], name: string): Node | undefined => list.find((x) => name in x);

function domainOf(xml: string): Node[] {
  const doc = new XMLParser(opts).parse(xml) as Node[];
  const dom = find(doc, 'domain');
  if (!dom) throw new KilnError('bmc_error', 'libvirt returned domain XML without a <domain> element');
  return children(dom, 'domain');
}

/** libvirt `<boot dev>` values for a boot device; disk keeps the network as fallback. */
const bootOrder: Record<Exclude<BootDevice, 'http'>, string[]> = {
  network: ['network', 'hd'],
  disk: ['hd', 'network'],
};

/**
 * Rewrites a domain's boot order: replaces `<os><boot dev=…/>` and removes
 * per-device `<boot order=…/>` (libvirt refuses both at once). Returns the new
 * XML for `virsh define`.
 */
export function setDomainBoot(xml: string, device: Exclude<BootDevice, 'http'>): string {
  const doc = new XMLParser(opts).parse(xml) as Node[];
  const dom = find(doc, 'domain');
  const os = dom && find(children(dom, 'domain'), 'os');
  if (!os) throw new KilnError('bmc_error', 'libvirt domain XML has no <os> element');
  const kept = children(os, 'os').filter((x) => !('boot' in x));
  const at = kept.findIndex((x) => 'type' in x) + 1;
  kept.splice(at, 0, ...bootOrder[device].map((dev) => ({ boot: [], ':@': { '@_dev': dev } })));
  os.os = kept;
  const devices = find(children(dom, 'domain'), 'devices');
  for (const d of devices ? children(devices, 'devices') : []) {
    const [tag] = Object.keys(d).filter((k) => k !== ':@');
    if (tag && Array.isArray(d[tag])) d[tag] = (d[tag] as Node[]).filter((x) => !('boot' in x));
  }
  return new XMLBuilder({ ...opts, format: true, suppressEmptyNode: true }).build(doc);
}

/** The first `<os><boot dev>` of a domain (`network`, `hd`, …), or undefined. */
export function domainBootDevice(xml: string): string | undefined {
  const os = find(domainOf(xml), 'os');
  return os ? find(children(os, 'os'), 'boot')?.[':@']?.['@_dev'] : undefined;
}

const text = (n: Node | undefined, name: string): string | undefined => {
  const t = n ? find(children(n, name), '#text')?.['#text'] : undefined;
  return t === undefined
    ? undefined
    : typeof t === 'string' || typeof t === 'number' || typeof t === 'boolean'
      ? String(t)
      : JSON.stringify(t);
};

const memUnits: Record<string, number> = {
  b: 1 / 1048576,
  bytes: 1 / 1048576,
  k: 1 / 1024,
  kib: 1 / 1024,
  kb: 1000 / 1048576,
  m: 1,
  mib: 1,
  mb: 1e6 / 1048576,
  g: 1024,
  gib: 1024,
  gb: 1e9 / 1048576,
};

/** Name, UUID, MACs, firmware, vCPUs and memory of a domain, from `virsh dumpxml`. */
export function summarizeDomain(xml: string): SystemInventory {
  const dom = domainOf(xml);
  const name = text(find(dom, 'name'), 'name');
  if (!name) throw new KilnError('bmc_error', 'libvirt domain XML has no <name>');
  const devices = find(dom, 'devices');
  const macs = (devices ? children(devices, 'devices') : [])
    .filter((d) => 'interface' in d)
    .map((d) => find(children(d, 'interface'), 'mac')?.[':@']?.['@_address'])
    .filter((m): m is string => !!m);
  const os = find(dom, 'os');
  const efi = os?.[':@']?.['@_firmware'] === 'efi' || (os ? children(os, 'os').some((x) => 'loader' in x) : false);
  const inv: SystemInventory = { systemId: name, name, macs: parseReportedMacs(macs), firmware: efi ? 'uefi' : 'bios' };
  const uuid = text(find(dom, 'uuid'), 'uuid');
  if (uuid) inv.uuid = uuid;
  const vcpu = Number(text(find(dom, 'vcpu'), 'vcpu'));
  if (Number.isFinite(vcpu) && vcpu > 0) inv.cpuCount = vcpu;
  const mem = find(dom, 'memory');
  const amount = Number(text(mem, 'memory'));
  const unit = (mem?.[':@']?.['@_unit'] ?? 'KiB').toLowerCase();
  if (Number.isFinite(amount) && memUnits[unit]) inv.memoryMiB = Math.round(amount * memUnits[unit]);
  return inv;
}

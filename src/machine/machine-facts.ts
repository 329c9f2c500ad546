/** One whole disk as the discovery agent reported it (node/agent/facts.sh `facts_disks`). */
export interface FactDisk {
  name: string;
  sizeBytes: number;
  model: string;
  serial: string;
  rotational: boolean | null;
  removable: boolean;
}

/** A Kiln DHCP subnet as the machine description's `reservation` needs it. */
export interface MachineSubnet {
  cidr: string;
  router?: string | undefined;
  dns: string[];
  ntp?: string[] | undefined;
}

/**
 * What a machine description is checked and rendered against: the host's
 * stored facts (disks, NICs), its boot MAC and DHCP reservation, and Kiln's
 * subnets. Built at the edge from the host record; everything after is pure.
 */
export interface MachineFacts {
  /** Whether the host has reported facts at all (a never-discovered host has none). */
  known: boolean;
  disks: FactDisk[];
  /** Lower-case colon-separated MACs of the host's NICs (facts and inventory). */
  macs: string[];
  bootMac: string;
  /** The host's DHCP reservation (label `dhcp.ip`), or ''. */
  reservedIp: string;
  subnets: MachineSubnet[];
}

const str = (v: unknown): string => (typeof v === 'string' ? v : '');

/** The facts a machine description needs, from a host record's fields. Pure; tolerant of missing or odd fields. */
export function machineFactsFrom(
  host: { facts: Record<string, unknown>; nics: Array<{ mac: string; boot: boolean }>; labels: Record<string, string> },
  subnets: MachineSubnet[],
): MachineFacts {
  const rawDisks = Array.isArray(host.facts['disks']) ? (host.facts['disks'] as unknown[]) : [];
  const disks: FactDisk[] = [];
  for (const d of rawDisks) {
    if (typeof d !== 'object' || d === null) continue;
    const r = d as Record<string, unknown>;
    if (typeof r['name'] !== 'string' || typeof r['sizeBytes'] !== 'number') continue;
    disks.push({
      name: r['name'],
      sizeBytes: r['sizeBytes'],
      model: str(r['model']),
      serial: str(r['serial']),
      rotational: typeof r['rotational'] === 'boolean' ? r['rotational'] : null,
      removable: r['removable'] === true,
    });
  }
  const rawNics = Array.isArray(host.facts['nics']) ? (host.facts['nics'] as unknown[]) : [];
  const macs = new Set(host.nics.map((n) => n.mac.toLowerCase()));
  for (const n of rawNics) {
    const mac = typeof n === 'object' && n !== null ? str((n as Record<string, unknown>)['mac']) : '';
    if (mac) macs.add(mac.toLowerCase());
  }
  return {
    known: Object.keys(host.facts).length > 0,
    disks,
    macs: [...macs],
    bootMac: (host.nics.find((n) => n.boot) ?? host.nics[0])?.mac.toLowerCase() ?? '',
    reservedIp: host.labels['dhcp.ip'] ?? '',
    subnets,
  };
}

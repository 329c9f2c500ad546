import { randomUUID } from 'node:crypto';
import type { ErrorIssue } from '../error/kiln-error.js';
import type { FactDisk } from './machine-facts.js';
import type { DiskDescription, StorageDescription } from './machine-schema.js';

const MiB = 1024 * 1024;

/**
 * One step of the storage plan, run in order by the node writer
 * (node/agent/storage.sh): a tool from a closed set with its arguments (no
 * shell: arguments never hold blanks), a wait for a device node, or a new
 * random LUKS key made on the node in the RAM file `key` (never sent to or
 * from the controller; node/agent/luks.sh removes its key slot after the
 * Clevis binding).
 */
export type StorageStep =
  | { tool: StorageTool; args: string[]; about: string }
  | { wait: string; about: string }
  | { key: string; about: string };

/** Where the node keeps a LUKS volume's random key until the Clevis binding replaces it (tmpfs, node/agent/luks.sh). */
export const luksKeyFile = (id: string): string => `/run/kiln/luks/${id}.key`;

/**
 * Kiln's Tang server as the planner sees it: its URL and the thumbprint a
 * Clevis binding pins, or why there is none (then LUKS is refused).
 */
export type TangPlanState = { kind: 'ready'; url: string; thumbprint: string } | { kind: 'off'; why: string };

/** One LUKS volume of the plan, bound to Kiln's Tang by the writer after the image is written. */
export interface EncryptedVolume {
  id: string;
  /** The device LUKS is made on (a partition or array). */
  device: string;
  /** The LUKS header's UUID (chosen by the controller: crypttab names the volume by it). */
  uuid: string;
  /** Where the opened volume appears: /dev/mapper/<id>. */
  mapper: string;
  /** The node's RAM file holding the random key until it is removed. */
  keyFile: string;
  /** Clevis's tang pin configuration: Kiln's Tang URL and its signing key's thumbprint. */
  clevis: { url: string; thp: string };
}

/** The binaries the writer may run for a storage plan (shipped in the node image's /usr/lib/kiln/bin). */
export const storageTools = [
  'sgdisk',
  'partx',
  'wipefs',
  'mdadm',
  'lvm',
  'mke2fs',
  'mkfs.xfs',
  'mkfs.vfat',
  'mkswap',
  'cryptsetup',
] as const;
export type StorageTool = (typeof storageTools)[number];

/** The concrete storage plan for one host: which disk gets what, the steps, and what the installed system mounts. */
export interface StoragePlan {
  /** Each described disk and the host disk chosen for it. */
  disks: Array<{ id: string; device: string; sizeBytes: number; model: string; serial: string }>;
  steps: StorageStep[];
  /** What the writer mounts under its target, parents first. */
  mounts: Array<{ device: string; path: string; type: string }>;
  /** The installed system's /etc/fstab (by label). */
  fstab: string;
  /** Disks whose BIOS boot partition (first, 1 MiB at LBA 2048) gets GRUB's core image. */
  biosBoot: string[];
  /** The ESP mounted at /boot/efi, or ''. */
  esp: string;
  root: { device: string; type: string };
  /** LUKS volumes (storage.encrypted), in the order they are made; empty without. */
  encrypted: EncryptedVolume[];
  /** The installed system's /etc/crypttab ('' without LUKS). */
  crypttab: string;
  /**
   * Whether a filesystem of its own (label kiln-boot) is mounted at /boot:
   * GRUB then reads grub.cfg and the kernel from it (required when the root
   * is encrypted: GRUB cannot open LUKS).
   */
  separateBoot: boolean;
}

/**
 * The installed system's /etc/crypttab: each volume by its LUKS UUID, no key
 * file (`none`: Clevis's token unlocks it), and `initramfs` so Debian's
 * cryptsetup-initramfs unlocks every one of them in the initramfs, where
 * clevis-initramfs brings the network up and asks Kiln's Tang. No `_netdev`:
 * no volume waits for the installed system's network.
 */
export function crypttab(volumes: readonly EncryptedVolume[]): string {
  if (volumes.length === 0) return '';
  return [
    "# Written by the Kiln image writer from the machine description: unlocked at boot by Clevis with Kiln's Tang.",
    ...volumes.map((v) => `${v.id} UUID=${v.uuid} none luks,initramfs`),
    '',
  ].join('\n');
}

/** Bytes of a size (`512MiB`, `1G`, 1048576). */
export function sizeBytes(size: number | string): number {
  if (typeof size === 'number') return size;
  const m = /^([0-9]+(?:\.[0-9]+)?)\s*(B|KiB|MiB|GiB|TiB|K|M|G|T)$/.exec(size);
  if (!m) return NaN;
  const unit = { B: 1, K: 1024, KiB: 1024, M: MiB, MiB, G: MiB * 1024, GiB: MiB * 1024, T: MiB * MiB, TiB: MiB * MiB }[
    m[2] as 'B'
  ];
  return Math.round(Number(m[1]) * unit);
}

const mib = (bytes: number): string => `${Math.floor(bytes / MiB)} MiB`;
const ceilMiB = (bytes: number): number => Math.ceil(bytes / MiB);

/** `/dev/vda` partition 3 → `/dev/vda3`; `/dev/nvme0n1` → `/dev/nvme0n1p3`. */
export function partitionDevice(disk: string, n: number): string {
  return /[0-9]$/.test(disk) ? `${disk}p${n}` : `${disk}${n}`;
}

const sgdiskType = {
  'bios-boot': 'ef02',
  esp: 'ef00',
  linux: '8300',
  raid: 'fd00',
  lvm: '8e00',
  swap: '8200',
} as const;

/** Whether a host disk fits a description's `match`, ignoring size (reported separately). */
function matches(disk: FactDisk, d: DiskDescription): boolean {
  const m = d.match ?? {};
  if (m.name !== undefined && disk.name !== m.name) return false;
  if (m.serial !== undefined && disk.serial !== m.serial) return false;
  if (m.model !== undefined && m.model !== '*' && !disk.model.toLowerCase().includes(m.model.toLowerCase()))
    return false;
  if (m.rotational !== undefined && disk.rotational !== m.rotational) return false;
  if (m.maxSize !== undefined && disk.sizeBytes > sizeBytes(m.maxSize)) return false;
  return true;
}

/** Bytes the described partitions need on one disk: 1 MiB before the first, 1 MiB for the backup GPT, `rest` at least 1 MiB. */
function neededBytes(d: DiskDescription): number {
  return (2 + d.partitions.reduce((n, p) => n + (p.size === 'rest' ? 1 : ceilMiB(sizeBytes(p.size))), 0)) * MiB;
}

const describe = (d: FactDisk): string =>
  `${d.name} ${mib(d.sizeBytes)}${d.model ? ` model "${d.model}"` : ''}${d.serial ? ` serial "${d.serial}"` : ''}${d.rotational === null ? '' : d.rotational ? ' rotational' : ' non-rotational'}`;

const matchText = (d: DiskDescription): string =>
  d.match
    ? Object.entries(d.match)
        .map(([k, v]) => `${k}=${String(v)}`)
        .join(' ')
    : 'any disk';

/** Space mdadm keeps on each member (superblock and data offset, as mdadm 4 sizes it; generous on small members). */
function raidReserve(member: number): number {
  return Math.min(128 * MiB, Math.max(2 * MiB, Math.ceil(member / 512 / MiB) * MiB));
}
const EXTENT = 4 * MiB;

/** Per-filesystem-type label limits (ext4 16, xfs 12, vfat 11, swap 15). */
const labelMax = { ext4: 16, xfs: 12, vfat: 11, swap: 15 } as const;

interface Node {
  kind: 'partition' | 'raid' | 'volume' | 'crypt';
  device: string;
  /** Usable bytes (estimated for arrays and volumes). */
  bytes: number;
  /** Host disks the device's data lives on. */
  disks: string[];
  partType?: string;
  /** Set once something (an array, a VG, a filesystem) takes the device. */
  usedBy?: string;
}

/**
 * Checks a storage description against the host's disks and renders the
 * concrete plan. Pure. Each problem is an issue with a stable code
 * (`no_disk`, `disk_too_small`, `no_disk_left`, `raid_same_disk`, …) and a
 * message naming what does not fit; the plan is returned only without issues.
 */
export function planStorage(
  s: StorageDescription,
  disks: FactDisk[],
  opts: { mdBase?: number; tang?: TangPlanState; uuid?: () => string } = {},
): { plan?: StoragePlan; issues: ErrorIssue[] } {
  const issues: ErrorIssue[] = [];
  const issue = (path: string, code: string, message: string): void => void issues.push({ path, code, message });
  const nodes = new Map<string, Node>();
  const ids = new Set<string>();
  const claim = (id: string, path: string): void => {
    if (ids.has(id)) issue(path, 'duplicate_id', `id "${id}" is used twice`);
    ids.add(id);
  };
  const steps: StorageStep[] = [];
  const chosen: StoragePlan['disks'] = [];
  const biosBoot: string[] = [];
  const candidates = [...disks].filter((d) => !d.removable).sort((a, b) => (a.name < b.name ? -1 : 1));
  const taken = new Set<string>();
  const wipes: StorageStep[] = [];

  s.disks.forEach((d, di) => {
    const path = `/storage/disks/${di}`;
    claim(d.id, `${path}/id`);
    const need = neededBytes(d);
    const minSize = d.match?.minSize === undefined ? 0 : sizeBytes(d.match.minSize);
    const fitting = candidates.filter((c) => matches(c, d));
    const free = fitting.filter((c) => !taken.has(c.name));
    const pick = free.find((c) => c.sizeBytes >= Math.max(need, minSize));
    if (!pick) {
      if (fitting.length === 0)
        issue(
          `${path}/match`,
          'no_disk',
          `disk "${d.id}" (${matchText(d)}) matches none of the host's disks: ${candidates.map(describe).join('; ') || 'the host reported no disks'}`,
        );
      else if (free.length === 0)
        issue(
          `${path}/match`,
          'no_disk_left',
          `disk "${d.id}" (${matchText(d)}) matches only disks already taken by earlier disks of the description: ${fitting.map((c) => c.name).join(', ')}`,
        );
      else
        issue(
          `${path}/partitions`,
          'disk_too_small',
          `disk "${d.id}" needs at least ${mib(Math.max(need, minSize))}${minSize > need ? ' (match.minSize)' : ' for its partitions'}; the matching disks are smaller: ${free.map(describe).join('; ')}`,
        );
      return;
    }
    taken.add(pick.name);
    const dev = `/dev/${pick.name}`;
    chosen.push({ id: d.id, device: dev, sizeBytes: pick.sizeBytes, model: pick.model, serial: pick.serial });
    const rests = d.partitions.filter((p) => p.size === 'rest');
    if (rests.length > 1 || (rests.length === 1 && d.partitions.at(-1)?.size !== 'rest'))
      issue(`${path}/partitions`, 'rest_not_last', `disk "${d.id}": only its last partition may take the rest`);
    const args = ['--clear'];
    let left = Math.floor(pick.sizeBytes / MiB) - 2;
    d.partitions.forEach((p, pi) => {
      const ppath = `${path}/partitions/${pi}`;
      claim(p.id, `${ppath}/id`);
      const n = pi + 1;
      const size = p.size === 'rest' ? left : ceilMiB(sizeBytes(p.size));
      left -= size;
      if (p.type === 'bios-boot') {
        if (pi !== 0 || size !== 1)
          issue(
            ppath,
            'bios_boot_position',
            `partition "${p.id}": a bios-boot partition must be the disk's first and exactly 1MiB (GRUB's core image is placed at LBA 2048)`,
          );
        biosBoot.push(dev);
      }
      args.push(`--new=${n}:0:${p.size === 'rest' ? '0' : `+${size}M`}`, `--typecode=${n}:${sgdiskType[p.type]}`);
      args.push(`--change-name=${n}:${p.label ?? `kiln-${p.id}`}`);
      nodes.set(p.id, {
        kind: 'partition',
        device: partitionDevice(dev, n),
        bytes: size * MiB,
        disks: [pick.name],
        partType: p.type,
      });
    });
    steps.push({ tool: 'sgdisk', args: ['--zap-all', dev], about: `clearing ${dev} (disk ${d.id})` });
    steps.push({ tool: 'sgdisk', args: [...args, dev], about: `partitioning ${dev} (disk ${d.id})` });
    // sgdisk asks the kernel to re-read the table; partx adds what a busy disk or a kernel without GPT parsing missed.
    steps.push({ tool: 'partx', args: ['--update', dev], about: `telling the kernel about ${dev}'s partitions` });
    d.partitions.forEach((p, pi) => {
      const pd = partitionDevice(dev, pi + 1);
      steps.push({ wait: pd, about: `waiting for ${pd}` });
      wipes.push({ tool: 'wipefs', args: ['--all', '--force', pd], about: `removing old signatures from ${pd}` });
    });
  });
  if (issues.some((i) => ['no_disk', 'no_disk_left', 'disk_too_small'].includes(i.code))) return { issues };
  steps.push(...wipes);

  const use = (id: string, by: string, path: string, allowed: string[]): Node | undefined => {
    const n = nodes.get(id);
    if (!n) {
      issue(path, 'unknown_device', `${by} uses "${id}", which is no partition, array or volume of this description`);
      return undefined;
    }
    if (n.usedBy) {
      issue(path, 'device_used_twice', `${by} uses "${id}", which ${n.usedBy} already uses`);
      return undefined;
    }
    if (n.kind === 'partition' && !allowed.includes(n.partType ?? '')) {
      issue(
        path,
        'wrong_partition_type',
        `${by} uses partition "${id}" of type ${n.partType}; it needs type ${allowed.join(' or ')}`,
      );
    }
    n.usedBy = by;
    return n;
  };

  (s.raids ?? []).forEach((r, ri) => {
    const path = `/storage/raids/${ri}`;
    claim(r.id, `${path}/id`);
    const members = r.members
      .map((m, mi) => use(m, `array "${r.id}"`, `${path}/members/${mi}`, ['raid']))
      .filter((m) => m !== undefined);
    const seen = new Map<string, string>();
    r.members.forEach((m) => {
      const disk = nodes.get(m)?.disks[0];
      if (!disk) return;
      const other = seen.get(disk);
      if (other !== undefined)
        issue(
          `${path}/members`,
          'raid_same_disk',
          `array "${r.id}" puts members "${other}" and "${m}" on the same disk ${disk}: a RAID 1 member must be on a disk of its own`,
        );
      seen.set(disk, m);
    });
    const device = `/dev/md${(opts.mdBase ?? 0) + ri}`;
    const smallest = Math.min(...members.map((m) => m.bytes));
    nodes.set(r.id, {
      kind: 'raid',
      device,
      bytes: members.length ? smallest - raidReserve(smallest) : 0,
      disks: members.flatMap((m) => m.disks),
    });
    steps.push({
      tool: 'mdadm',
      args: [
        '--create',
        device,
        '--run',
        '--level=1',
        `--raid-devices=${members.length}`,
        '--metadata=1.2',
        `--name=${r.id}`,
        ...members.map((m) => m.device),
      ],
      about: `making RAID 1 array ${r.id} (${device}) of ${members.map((m) => m.device).join(', ')}`,
    });
    steps.push({ wait: device, about: `waiting for ${device}` });
  });

  // LUKS (LUKS2) on a partition or array, before volume groups: LVM on LUKS takes the opened volume as a PV.
  const encrypted: EncryptedVolume[] = [];
  /** Opened LUKS volumes and the logical volumes on them: GRUB reads none of these. */
  const cryptDevices = new Set<string>();
  const tang: TangPlanState = opts.tang ?? { kind: 'off', why: "Kiln's Tang server is off: set tang-listen" };
  (s.encrypted ?? []).forEach((e, ei) => {
    const path = `/storage/encrypted/${ei}`;
    claim(e.id, `${path}/id`);
    if (tang.kind !== 'ready')
      issue(
        path,
        'tang_unavailable',
        `encrypted volume "${e.id}" is unlocked at boot by Kiln's Tang server: ${tang.why}`,
      );
    const n = use(e.device, `encrypted volume "${e.id}"`, `${path}/device`, ['linux', 'lvm']);
    if (!n) return;
    const mapper = `/dev/mapper/${e.id}`;
    // LUKS2 keeps 16 MiB of header before the data.
    nodes.set(e.id, { kind: 'crypt', device: mapper, bytes: n.bytes - 16 * MiB, disks: n.disks });
    cryptDevices.add(mapper);
    if (tang.kind !== 'ready') return;
    const keyFile = luksKeyFile(e.id);
    const uuid = (opts.uuid ?? randomUUID)();
    encrypted.push({
      id: e.id,
      device: n.device,
      uuid,
      mapper,
      keyFile,
      clevis: { url: tang.url, thp: tang.thumbprint },
    });
    steps.push({ key: keyFile, about: `making a random key for LUKS volume ${e.id} in the node's memory` });
    steps.push({
      tool: 'cryptsetup',
      args: [
        'luksFormat',
        '--batch-mode',
        '--type',
        'luks2',
        // The key is 384 random bits: a memory-hard KDF adds nothing and needs more RAM than the node image may have.
        '--pbkdf',
        'pbkdf2',
        '--pbkdf-force-iterations',
        '1000',
        `--uuid=${uuid}`,
        `--label=kiln-${e.id}`,
        `--key-file=${keyFile}`,
        n.device,
      ],
      about: `making LUKS volume ${e.id} on ${n.device}`,
    });
    steps.push({
      tool: 'cryptsetup',
      args: ['open', '--type', 'luks2', `--key-file=${keyFile}`, n.device, e.id],
      about: `opening LUKS volume ${e.id} as ${mapper}`,
    });
    steps.push({ wait: mapper, about: `waiting for ${mapper}` });
  });

  (s.volumeGroups ?? []).forEach((vg, vi) => {
    const path = `/storage/volumeGroups/${vi}`;
    claim(vg.id, `${path}/id`);
    const pvs = vg.physical
      .map((p, pi) => use(p, `volume group "${vg.id}"`, `${path}/physical/${pi}`, ['lvm']))
      .filter((p) => p !== undefined);
    let free = pvs.reduce((n, p) => n + Math.floor((p.bytes - MiB) / EXTENT) * EXTENT, 0);
    for (const pv of pvs)
      steps.push({
        tool: 'lvm',
        args: ['pvcreate', '--force', '--force', '--yes', pv.device],
        about: `making ${pv.device} an LVM physical volume`,
      });
    steps.push({
      tool: 'lvm',
      args: ['vgcreate', vg.name, ...pvs.map((p) => p.device)],
      about: `making volume group ${vg.name}`,
    });
    vg.volumes.forEach((lv, li) => {
      const lpath = `${path}/volumes/${li}`;
      claim(lv.id, `${lpath}/id`);
      if (lv.size === 'rest' && li !== vg.volumes.length - 1)
        issue(lpath, 'rest_not_last', `volume group "${vg.id}": only its last volume may take the rest`);
      const want = lv.size === 'rest' ? free : Math.ceil(sizeBytes(lv.size) / EXTENT) * EXTENT;
      if (want > free || want <= 0)
        issue(
          `${lpath}/size`,
          'volume_group_too_small',
          `volume "${lv.id}" needs ${mib(Math.max(want, EXTENT))} but volume group "${vg.id}" has only ${mib(Math.max(free, 0))} left (of ${mib(pvs.reduce((n, p) => n + p.bytes, 0))} in ${pvs.map((p) => p.device).join(', ')})`,
        );
      free -= want;
      const device = `/dev/mapper/${vg.name}-${lv.name}`;
      if (pvs.some((p) => p.kind === 'crypt')) cryptDevices.add(device);
      if ([...nodes.values()].some((x) => x.kind === 'crypt' && x.device === device))
        issue(
          `${lpath}/name`,
          'mapper_name_twice',
          `volume ${vg.name}/${lv.name} and encrypted volume "${vg.name}-${lv.name}" would both be ${device}; rename one`,
        );
      nodes.set(lv.id, { kind: 'volume', device, bytes: want, disks: pvs.flatMap((p) => p.disks) });
      steps.push({
        tool: 'lvm',
        args: [
          'lvcreate',
          '--yes',
          '--wipesignatures',
          'y',
          '--name',
          lv.name,
          ...(lv.size === 'rest' ? ['--extents', '100%FREE'] : ['--size', `${want / MiB}m`]),
          vg.name,
        ],
        about: `making logical volume ${vg.name}/${lv.name}`,
      });
      steps.push({ wait: device, about: `waiting for ${device}` });
    });
  });

  const labels = new Set<string>();
  const mounts: StoragePlan['mounts'] = [];
  const fstab: string[] = ['# Written by the Kiln image writer from the machine description.'];
  let root: StoragePlan['root'] | undefined;
  let esp = '';
  s.filesystems.forEach((f, fi) => {
    const path = `/storage/filesystems/${fi}`;
    const allowed = f.type === 'swap' ? ['swap', 'linux'] : f.type === 'vfat' ? ['esp', 'linux'] : ['linux'];
    const n = use(f.device, `filesystem ${fi} (${f.type})`, `${path}/device`, allowed);
    if (!n) return;
    if (f.type === 'swap' && f.mount !== undefined)
      issue(`${path}/mount`, 'swap_mounted', `swap on "${f.device}" has no mount point`);
    // A second ESP (the mirror disk's, for its firmware) may stay unmounted; other filesystems need a place.
    if ((f.type === 'ext4' || f.type === 'xfs') && f.mount === undefined)
      issue(`${path}/mount`, 'no_mount', `filesystem on "${f.device}" needs a mount point`);
    if (f.mount !== undefined && mounts.some((m) => m.path === f.mount))
      issue(`${path}/mount`, 'mount_twice', `two filesystems are mounted at ${f.mount}`);
    const isEspMount = f.mount === '/boot/efi';
    let label =
      f.label ??
      (f.mount === '/' ? 'kiln-root' : f.mount === '/boot' ? 'kiln-boot' : isEspMount ? 'KILN-ESP' : f.device);
    if (f.mount === '/' && label !== 'kiln-root')
      issue(
        `${path}/label`,
        'root_label',
        `the root filesystem's label must be kiln-root (GRUB and the kernel find the root by it); got "${label}"`,
      );
    if (f.mount === '/boot' && (label !== 'kiln-boot' || (f.type !== 'ext4' && f.type !== 'xfs')))
      issue(
        `${path}/label`,
        'boot_label',
        `a /boot filesystem must be ext4 or xfs labelled kiln-boot (GRUB finds grub.cfg and the kernel by it); got ${f.type} "${label}"`,
      );
    if (f.type === 'vfat') label = label.toUpperCase();
    if (label.length > labelMax[f.type])
      issue(
        `${path}/label`,
        'label_too_long',
        `label "${label}" is longer than ${f.type} allows (${labelMax[f.type]})`,
      );
    if (labels.has(label)) issue(`${path}/label`, 'label_twice', `label "${label}" is used twice`);
    labels.add(label);
    if (f.type === 'vfat' && n.bytes < 33 * MiB && isEspMount)
      issue(
        `${path}/device`,
        'esp_too_small',
        `the ESP on "${f.device}" is ${mib(n.bytes)}; FAT32 needs at least 33 MiB`,
      );
    const dev = n.device;
    const mk: Record<typeof f.type, string[]> = {
      ext4: ['mke2fs', '-q', '-F', '-t', 'ext4', '-L', label, dev],
      xfs: ['mkfs.xfs', '-q', '-f', '-L', label, dev],
      vfat: ['mkfs.vfat', ...(n.bytes >= 33 * MiB ? ['-F', '32', '-s', '1'] : []), '-n', label, dev],
      swap: ['mkswap', '-L', label, dev],
    };
    const [tool, ...args] = mk[f.type] as [StorageTool, ...string[]];
    steps.push({ tool, args, about: `making ${f.type} "${label}" on ${dev}` });
    if (f.type === 'swap') {
      fstab.push(`LABEL=${label} none swap sw 0 0`);
      return;
    }
    if (f.mount === undefined) return;
    mounts.push({ device: dev, path: f.mount, type: f.type });
    if (f.mount === '/') root = { device: dev, type: f.type };
    if (isEspMount) esp = dev;
    const options =
      f.options ?? (f.mount === '/' ? 'errors=remount-ro' : isEspMount ? 'umask=0077,nofail' : 'defaults');
    // Fields separated by blanks, not tabs: the writer reads multi-line plan values with json_text
    // (node/agent/lib.sh), which ends a value at the first line holding a tab (the next key's line); a
    // tab-separated fstab reached the installed system as its comment line alone, and the root stayed read-only.
    fstab.push(`LABEL=${label} ${f.mount} ${f.type} ${options} 0 ${f.mount === '/' ? 1 : 2}`);
  });
  if (!root) issue('/storage/filesystems', 'no_root', 'no filesystem is mounted at /');
  for (const [id, n] of nodes)
    if (!n.usedBy && n.kind === 'partition' && n.partType !== 'bios-boot')
      issue(
        '/storage',
        'unused_device',
        `partition "${id}" (${n.partType}) is used by no array, volume group or filesystem`,
      );
    else if (!n.usedBy && n.kind !== 'partition')
      issue(
        '/storage',
        'unused_device',
        `${n.kind === 'raid' ? 'array' : n.kind === 'crypt' ? 'encrypted volume' : 'volume'} "${id}" holds no filesystem or volume group`,
      );
  const boot = mounts.find((m) => m.path === '/boot');
  const onCrypt = (dev: string): boolean => cryptDevices.has(dev);
  if (root && onCrypt(root.device) && !boot)
    issue(
      '/storage/filesystems',
      'boot_on_luks',
      'the root filesystem is encrypted and GRUB cannot open LUKS: add an unencrypted ext4 filesystem mounted at /boot (512MiB is plenty)',
    );
  if (boot && onCrypt(boot.device))
    issue('/storage/filesystems', 'boot_on_luks', 'the /boot filesystem must not be encrypted: GRUB cannot open LUKS');
  if (issues.length > 0 || !root) return { issues };
  mounts.sort((a, b) =>
    a.path === '/' ? -1 : b.path === '/' ? 1 : a.path.split('/').length - b.path.split('/').length,
  );
  return {
    plan: {
      disks: chosen,
      steps,
      mounts,
      fstab: `${fstab.join('\n')}\n`,
      biosBoot,
      esp,
      root,
      encrypted,
      crypttab: crypttab(encrypted),
      separateBoot: boot !== undefined,
    },
    issues,
  };
}

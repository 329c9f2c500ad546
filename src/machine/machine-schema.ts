import { Type, type Static } from '@sinclair/typebox';

const strict = { additionalProperties: false } as const;

/** An id the description uses to refer to a partition, array, volume or link: also part of device and unit names. */
const Id = Type.String({ pattern: '^[a-z][a-z0-9_-]{0,14}$', description: 'lower-case id, at most 15 characters' });
/** A size: bytes as a number, or a number with a binary unit (`512MiB`, `1GiB`, `2TiB`). */
export const SizeSchema = Type.Union([
  Type.Integer({ minimum: 1 }),
  Type.String({ pattern: '^[0-9]+(\\.[0-9]+)?\\s*(B|KiB|MiB|GiB|TiB|K|M|G|T)$', maxLength: 24 }),
]);
/** A size, or `rest`: what is left (of the disk, or of the volume group). */
const SizeOrRest = Type.Union([SizeSchema, Type.Literal('rest')]);
const Label = Type.String({ pattern: '^[A-Za-z0-9._-]{1,16}$' });
const Ipv4 = Type.String({ pattern: '^[0-9]{1,3}(\\.[0-9]{1,3}){3}$', maxLength: 15 });
const Cidr = Type.String({ pattern: '^[0-9]{1,3}(\\.[0-9]{1,3}){3}/[0-9]{1,2}$', maxLength: 18 });
const Mac = Type.String({ pattern: '^[0-9a-fA-F]{2}([:-][0-9a-fA-F]{2}){5}$' });

/** Which of the host's disks this is: every given field must match the disk's facts. */
export const DiskMatchSchema = Type.Object(
  {
    minSize: Type.Optional(SizeSchema),
    maxSize: Type.Optional(SizeSchema),
    /** Substring of the disk's model (case-insensitive); `*` matches anything. */
    model: Type.Optional(Type.String({ minLength: 1, maxLength: 64 })),
    serial: Type.Optional(Type.String({ minLength: 1, maxLength: 64 })),
    rotational: Type.Optional(Type.Boolean()),
    /** The kernel name (`vda`, `nvme0n1`): for a machine whose names are stable. */
    name: Type.Optional(Type.String({ pattern: '^[a-z][a-z0-9]{1,31}$' })),
  },
  strict,
);

/** GPT partition types the writer knows (sgdisk type codes in render-storage.ts). */
export const partitionTypes = ['bios-boot', 'esp', 'linux', 'raid', 'lvm', 'swap'] as const;

export const PartitionSchema = Type.Object(
  {
    id: Id,
    size: SizeOrRest,
    type: Type.Union(partitionTypes.map((t) => Type.Literal(t))),
    /** The GPT partition name; defaults to `kiln-<id>`. */
    label: Type.Optional(Label),
  },
  strict,
);

export const DiskSchema = Type.Object(
  {
    id: Id,
    match: Type.Optional(DiskMatchSchema),
    partitions: Type.Array(PartitionSchema, { minItems: 1, maxItems: 32 }),
  },
  strict,
);

/** A software RAID (mdadm). Only level 1 is built. */
export const RaidSchema = Type.Object(
  {
    id: Id,
    level: Type.Literal(1),
    /** Partition ids, each on a different disk. */
    members: Type.Array(Id, { minItems: 2, maxItems: 8 }),
  },
  strict,
);

export const LogicalVolumeSchema = Type.Object(
  { id: Id, name: Type.String({ pattern: '^[a-z][a-z0-9_]{0,31}$' }), size: SizeOrRest },
  strict,
);

export const VolumeGroupSchema = Type.Object(
  {
    id: Id,
    name: Type.String({ pattern: '^[a-z][a-z0-9_]{0,31}$' }),
    /** Partition or array ids that become physical volumes. */
    physical: Type.Array(Id, { minItems: 1, maxItems: 16 }),
    volumes: Type.Array(LogicalVolumeSchema, { minItems: 1, maxItems: 32 }),
  },
  strict,
);

export const filesystemTypes = ['ext4', 'xfs', 'vfat', 'swap'] as const;

export const FilesystemSchema = Type.Object(
  {
    /** A partition, array or logical volume id. */
    device: Id,
    type: Type.Union(filesystemTypes.map((t) => Type.Literal(t))),
    /** Absolute mount point; `/` is required once. Not for swap. */
    mount: Type.Optional(Type.String({ pattern: '^/([A-Za-z0-9._-]+(/[A-Za-z0-9._-]+)*)?$', maxLength: 128 })),
    /** Filesystem label (fstab mounts by label). The root's is always `kiln-root`, the first ESP's `KILN-ESP`. */
    label: Type.Optional(Label),
    options: Type.Optional(Type.String({ pattern: '^[A-Za-z0-9=,._-]{1,128}$' })),
  },
  strict,
);

/**
 * LUKS encryption of a partition or array (with boot-time unlock by Clevis and
 * a Tang server Kiln runs). Accepted by the schema so descriptions can be
 * written now; refused at validation: not yet built.
 */
export const EncryptionSchema = Type.Object({ device: Id, id: Id, unlock: Type.Literal('tang') }, strict);

export const StorageSchema = Type.Object(
  {
    disks: Type.Array(DiskSchema, { minItems: 1, maxItems: 16 }),
    raids: Type.Optional(Type.Array(RaidSchema, { maxItems: 16 })),
    volumeGroups: Type.Optional(Type.Array(VolumeGroupSchema, { maxItems: 8 })),
    encrypted: Type.Optional(Type.Array(EncryptionSchema, { maxItems: 16 })),
    filesystems: Type.Array(FilesystemSchema, { minItems: 1, maxItems: 64 }),
  },
  strict,
);

/** A physical NIC: by MAC, or the host's boot NIC. */
export const InterfaceSchema = Type.Object(
  {
    id: Id,
    mac: Type.Optional(Mac),
    boot: Type.Optional(Type.Literal(true)),
    mtu: Type.Optional(Type.Integer({ minimum: 68, maximum: 65535 })),
  },
  strict,
);

export const BondSchema = Type.Object(
  {
    id: Id,
    mode: Type.Union([Type.Literal('active-backup'), Type.Literal('802.3ad')]),
    members: Type.Array(Id, { minItems: 1, maxItems: 8 }),
    /** active-backup: the member used while its link is up. */
    primary: Type.Optional(Id),
    miimonMs: Type.Optional(Type.Integer({ minimum: 10, maximum: 10000 })),
    mtu: Type.Optional(Type.Integer({ minimum: 68, maximum: 65535 })),
  },
  strict,
);

export const VlanSchema = Type.Object(
  {
    id: Id,
    vlan: Type.Integer({ minimum: 1, maximum: 4094 }),
    link: Id,
    mtu: Type.Optional(Type.Integer({ minimum: 68, maximum: 65535 })),
  },
  strict,
);

export const BridgeSchema = Type.Object(
  { id: Id, members: Type.Array(Id, { maxItems: 8 }), stp: Type.Optional(Type.Boolean()) },
  strict,
);

/**
 * Layer 3 on one link (interface, bond, VLAN or bridge). An address is a CIDR
 * or `reservation`: the host's DHCP reservation (label `dhcp.ip`) with the
 * prefix of the Kiln subnet that holds it. `gateway: reservation` is that
 * subnet's router; DNS and NTP default to the subnet's when an address comes
 * from it.
 */
export const AddressingSchema = Type.Object(
  {
    link: Id,
    dhcp: Type.Optional(Type.Boolean()),
    addresses: Type.Optional(Type.Array(Type.Union([Cidr, Type.Literal('reservation')]), { maxItems: 8 })),
    gateway: Type.Optional(Type.Union([Ipv4, Type.Literal('reservation')])),
    dns: Type.Optional(Type.Array(Ipv4, { maxItems: 4 })),
    ntp: Type.Optional(Type.Array(Type.String({ pattern: '^[A-Za-z0-9.-]{1,253}$' }), { maxItems: 4 })),
    domains: Type.Optional(Type.Array(Type.String({ pattern: '^[A-Za-z0-9.-]{1,253}$' }), { maxItems: 6 })),
  },
  strict,
);

export const NetworkSchema = Type.Object(
  {
    interfaces: Type.Array(InterfaceSchema, { minItems: 1, maxItems: 16 }),
    bonds: Type.Optional(Type.Array(BondSchema, { maxItems: 8 })),
    vlans: Type.Optional(Type.Array(VlanSchema, { maxItems: 32 })),
    bridges: Type.Optional(Type.Array(BridgeSchema, { maxItems: 8 })),
    addressing: Type.Array(AddressingSchema, { minItems: 1, maxItems: 32 }),
  },
  strict,
);

/**
 * A machine description (docs/machine-description.md): the storage layout and
 * the network of the installed system. Either part may be left out: without
 * `storage` the writer's single-disk layout is used, without `network` the
 * boot NIC gets DHCP.
 */
export const MachineDescriptionSchema = Type.Object(
  { storage: Type.Optional(StorageSchema), network: Type.Optional(NetworkSchema) },
  strict,
);

export type MachineDescription = Static<typeof MachineDescriptionSchema>;
export type StorageDescription = Static<typeof StorageSchema>;
export type NetworkDescription = Static<typeof NetworkSchema>;
export type DiskDescription = Static<typeof DiskSchema>;

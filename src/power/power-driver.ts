/**
 * The power-driver contract: one driver instance controls one machine (or,
 * for `listSystems`, reports every machine its BMC or hypervisor manages).
 * Shared code (queue, poller, enlistment, API) reads `capabilities`, never
 * the driver's name.
 */

/** What a machine's power looks like from its BMC; `unknown` when the BMC cannot tell. */
export type PowerState = 'on' | 'off' | 'unknown';

/** A power action: `cycle` is a hard reset or power cycle, `soft-off` asks the OS to shut down (ACPI). */
export type PowerAction = 'on' | 'off' | 'cycle' | 'soft-off';

/** Every power action, in a stable order (for capability checks and docs). */
export const powerActions: readonly PowerAction[] = ['on', 'off', 'cycle', 'soft-off'];

/** Where the next boot (or every boot, when persistent) comes from: PXE, local disk, or UEFI HTTP boot. */
export type BootDevice = 'network' | 'disk' | 'http';

/** A boot-device override. `persistent: false` (the default) applies to the next boot only. */
export interface BootOverride {
  device: BootDevice;
  persistent?: boolean;
  /** Ask for a UEFI boot where the protocol lets us say so; undefined means "leave as the firmware reports". */
  uefi?: boolean;
}

/**
 * What a driver offers. Each list is the exact set of values the driver
 * accepts; anything else throws `bmc_unsupported` before touching the BMC.
 * A driver may still refuse at run time with `bmc_unsupported` when the BMC
 * itself does not allow a value (for example a Redfish reset type).
 */
export interface PowerCapabilities {
  powerActions: readonly PowerAction[];
  /** Whether `powerStatus` works. */
  status: boolean;
  /** Devices accepted by a one-time override. */
  bootOnce: readonly BootDevice[];
  /** Devices accepted by a persistent override. */
  bootPersistent: readonly BootDevice[];
  /** Whether `insertMedia`/`ejectMedia` work. */
  virtualMedia: boolean;
  /** Whether `listSystems` works (out-of-band enlistment). */
  enumerate: boolean;
  /** Whether `readInventory` works. */
  inventory: boolean;
}

/** Capabilities of a driver that offers nothing; spread it and override what you offer. */
export const noCapabilities: PowerCapabilities = {
  powerActions: [],
  status: false,
  bootOnce: [],
  bootPersistent: [],
  virtualMedia: false,
  enumerate: false,
  inventory: false,
};

/** Per-call options. Aborting the signal stops the call (kills a child process, aborts a request) and rejects it. */
export interface PowerCallOptions {
  signal?: AbortSignal;
}

/** One machine as its BMC or hypervisor reports it. MACs are lower-case, colon-separated, unique and sorted. */
export interface SystemSummary {
  /** The BMC's own id for the machine (Redfish member id, libvirt domain name); pass it back as `options.systemId`. */
  systemId: string;
  name: string;
  macs: string[];
  powerState?: PowerState;
  firmware?: 'uefi' | 'bios';
  serial?: string;
  manufacturer?: string;
  model?: string;
  uuid?: string;
}

/** Hardware facts a BMC reports about the machine it controls; fields the BMC lacks are omitted. */
export interface SystemInventory extends SystemSummary {
  cpuCount?: number;
  memoryMiB?: number;
  biosVersion?: string;
}

/**
 * A power driver bound to one machine's BMC settings. Every method rejects
 * with a KilnError: `bmc_unsupported` (not in `capabilities`), `bmc_timeout`
 * (no answer in the driver's timeout) or `bmc_error` (carrying the BMC's own
 * message, never the password). Instances are cheap; `close` releases
 * sessions or child processes the driver holds.
 */
export interface PowerDriver {
  /** The registry name this instance was created under, for logs and events only: never branch on it. */
  readonly driver: string;
  readonly capabilities: PowerCapabilities;
  powerStatus(opts?: PowerCallOptions): Promise<PowerState>;
  setPower(action: PowerAction, opts?: PowerCallOptions): Promise<void>;
  setBootDevice(override: BootOverride, opts?: PowerCallOptions): Promise<void>;
  /** Attaches an image (URL the BMC can fetch) as virtual CD/DVD. */
  insertMedia(imageUrl: string, opts?: PowerCallOptions): Promise<void>;
  ejectMedia(opts?: PowerCallOptions): Promise<void>;
  listSystems(opts?: PowerCallOptions): Promise<SystemSummary[]>;
  readInventory(opts?: PowerCallOptions): Promise<SystemInventory>;
  close(): Promise<void>;
}

/**
 * A host's BMC settings as the store keeps them. `password` arrives already
 * decrypted; drivers never log it, put it on a command line or in an error.
 */
export interface BmcSettings {
  driver: string;
  address: string;
  username?: string;
  password?: string;
  options?: Record<string, unknown>;
}

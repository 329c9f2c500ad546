// Pure decisions on Redfish documents (DMTF DSP0268 schemas): which reset type
// to send, what boot override to PATCH, how to read a ComputerSystem.
import { KilnError } from '../../error/kiln-error.js';
import type { BootOverride, PowerAction, PowerState, SystemSummary } from '../power-driver.js';
import { peerToken } from '../secret.js';

/** A BMC's list of allowable values as Kiln quotes it: identifiers only, at most 20 (the list is the BMC's text). */
const quoteAllowed = (values: readonly unknown[]): string[] => values.slice(0, 20).map(peerToken);

type Doc = Record<string, unknown>;

/** Reset types we may send for each action, in order of preference (ResetType enum, ComputerSystem schema). */
export const resetPreference: Record<PowerAction, readonly string[]> = {
  on: ['On', 'ForceOn'],
  off: ['ForceOff'],
  'soft-off': ['GracefulShutdown'],
  cycle: ['PowerCycle', 'ForceRestart'],
};

/** Every ResetType DSP0268 defines; assumed allowed when the BMC lists none. */
const allResetTypes = [
  'On',
  'ForceOff',
  'GracefulShutdown',
  'GracefulRestart',
  'ForceRestart',
  'Nmi',
  'ForceOn',
  'PushPowerButton',
  'PowerCycle',
];

/**
 * Picks the ResetType for an action from the BMC's
 * `ResetType@Redfish.AllowableValues` (undefined: the BMC lists none, so the
 * schema's full set applies). Throws `bmc_unsupported` naming what is allowed.
 */
export function pickResetType(action: PowerAction, allowable: readonly string[] | undefined): string {
  const allowed = allowable ?? allResetTypes;
  const hit = resetPreference[action].find((t) => allowed.includes(t));
  if (!hit) {
    throw new KilnError(
      'bmc_unsupported',
      `BMC does not allow a reset type for "${action}" (wants one of ${resetPreference[action].join(', ')}; allowed: ${quoteAllowed(allowed).join(', ')})`,
      {
        details: { action, allowed: quoteAllowed(allowed) },
      },
    );
  }
  return hit;
}

/** Redfish BootSourceOverrideTarget for each boot device. */
export const bootTarget = { network: 'Pxe', disk: 'Hdd', http: 'UefiHttp' } as const;

/**
 * Builds the `Boot` object to PATCH for an override. Mode: explicit `uefi`
 * wins; otherwise the mode the firmware reports is kept; UefiHttp forces
 * UEFI. Throws `bmc_unsupported` when the BMC's allowable targets lack the one
 * needed, and `bmc_error` when the system has no `Boot` object at all.
 */
export function bootPatch(system: Doc, o: BootOverride): Doc {
  const boot = system.Boot as Doc | undefined;
  if (!boot || typeof boot !== 'object')
    throw new KilnError('bmc_error', 'Redfish ComputerSystem has no Boot object; cannot set a boot override');
  const target = bootTarget[o.device];
  const allowed = boot['BootSourceOverrideTarget@Redfish.AllowableValues'];
  if (Array.isArray(allowed) && !allowed.includes(target)) {
    throw new KilnError(
      'bmc_unsupported',
      `BMC does not allow boot target ${target} (allowed: ${quoteAllowed(allowed).join(', ')})`,
      { details: { target, allowed: quoteAllowed(allowed) } },
    );
  }
  const patch: Doc = {
    BootSourceOverrideTarget: target,
    BootSourceOverrideEnabled: o.persistent ? 'Continuous' : 'Once',
  };
  const mode =
    o.device === 'http' || o.uefi === true ? 'UEFI' : o.uefi === false ? 'Legacy' : boot.BootSourceOverrideMode;
  if (typeof mode === 'string') patch.BootSourceOverrideMode = mode;
  return patch;
}

/**
 * Reads `PowerState` (PowerState enum): On and PoweringOff count as on, Off
 * and PoweringOn as off, Paused as on. A missing field is a `bmc_error`.
 */
export function parseRedfishPowerState(system: Doc): PowerState {
  const p = system.PowerState;
  if (typeof p !== 'string') throw new KilnError('bmc_error', 'Redfish ComputerSystem reply has no PowerState');
  if (p === 'On' || p === 'PoweringOff' || p === 'Paused') return 'on';
  if (p === 'Off' || p === 'PoweringOn') return 'off';
  return 'unknown';
}

/** The `@odata.id` of a link object, or undefined. */
export function linkOf(v: unknown): string | undefined {
  const id = (v as { '@odata.id'?: unknown } | undefined)?.['@odata.id'];
  return typeof id === 'string' ? id : undefined;
}

/** The member links of a collection; throws `bmc_error` when `Members` is missing. */
export function membersOf(collection: Doc, what: string): string[] {
  if (!Array.isArray(collection.Members))
    throw new KilnError('bmc_error', `Redfish ${what} collection reply has no Members`);
  return collection.Members.map(linkOf).filter((x): x is string => x !== undefined);
}

const str = (v: unknown) => (typeof v === 'string' && v ? v : undefined);

/** A SystemSummary from a ComputerSystem document and its interfaces' MACs (already normalised). */
export function summarizeSystem(system: Doc, macs: string[]): SystemSummary {
  const id = str(system.Id);
  if (!id) throw new KilnError('bmc_error', 'Redfish ComputerSystem reply has no Id');
  const mode = (system.Boot as Doc | undefined)?.BootSourceOverrideMode;
  const s: SystemSummary = { systemId: id, name: str(system.HostName) ?? str(system.Name) ?? id, macs };
  if (typeof system.PowerState === 'string') s.powerState = parseRedfishPowerState(system);
  if (mode === 'UEFI') s.firmware = 'uefi';
  if (mode === 'Legacy') s.firmware = 'bios';
  const extra = {
    serial: str(system.SerialNumber),
    manufacturer: str(system.Manufacturer),
    model: str(system.Model),
    uuid: str(system.UUID),
  };
  for (const [k, v] of Object.entries(extra)) if (v) (s as unknown as Record<string, string>)[k] = v;
  return s;
}

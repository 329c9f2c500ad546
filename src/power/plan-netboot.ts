import { unsupported } from './capability.js';
import type { BootOverride, PowerCapabilities, PowerState } from './power-driver.js';
import type { PowerOperation } from './power-queue.js';

/**
 * The boot override that makes a machine network-boot next, from what the
 * driver offers: one-time if it can, else persistent (safe: Kiln's iPXE
 * script exits to disk when nothing is to be installed), else undefined (the
 * machine must already boot from the network first, e.g. Wake-on-LAN).
 * `firmware` picks the UEFI flag; null leaves the firmware's own mode.
 */
export function networkBootOverride(
  caps: PowerCapabilities,
  firmware: 'bios' | 'uefi' | null,
): BootOverride | undefined {
  const uefi = firmware === null ? {} : { uefi: firmware === 'uefi' };
  if (caps.bootOnce.includes('network')) return { device: 'network', persistent: false, ...uefi };
  if (caps.bootPersistent.includes('network')) return { device: 'network', persistent: true, ...uefi };
  return undefined;
}

/**
 * The power operations after the boot override of a deploy or wipe: cycle a
 * running machine (or off then on), power on one that is off or whose state
 * is unknown. `current` is undefined when the driver has no status. Throws
 * `bmc_unsupported` when the driver cannot start the machine at all.
 */
export function planPowerUp(
  driver: string,
  caps: PowerCapabilities,
  current: PowerState | undefined,
): PowerOperation[] {
  const can = (a: 'on' | 'off' | 'cycle') => caps.powerActions.includes(a);
  if (current === 'on') {
    if (can('cycle')) return [{ kind: 'power', action: 'cycle' }];
    if (can('off') && can('on'))
      return [
        { kind: 'power', action: 'off' },
        { kind: 'power', action: 'on' },
      ];
    throw unsupported(driver, 'power cycle (the machine is on)');
  }
  if (can('on')) return [{ kind: 'power', action: 'on' }];
  // No status and no "on", but a reset: a cycle starts or restarts it.
  if (current === undefined && can('cycle')) return [{ kind: 'power', action: 'cycle' }];
  throw unsupported(driver, 'power on');
}

/** The operation that powers a machine off for release: a hard off, else an ACPI soft-off. */
export function planPowerOff(driver: string, caps: PowerCapabilities): PowerOperation {
  if (caps.powerActions.includes('off')) return { kind: 'power', action: 'off' };
  if (caps.powerActions.includes('soft-off')) return { kind: 'power', action: 'soft-off' };
  throw unsupported(driver, 'power off');
}

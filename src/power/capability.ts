import { KilnError } from '../error/kiln-error.js';
import type { BootOverride, PowerAction, PowerCapabilities } from './power-driver.js';

/** The `bmc_unsupported` error every driver throws for an operation it does not offer. */
export function unsupported(driver: string, operation: string): KilnError {
  return new KilnError('bmc_unsupported', `power driver "${driver}" does not support ${operation}`, {
    details: { driver, operation },
  });
}

/** Throws `bmc_unsupported` unless `action` is in the capabilities. */
export function assertPowerAction(driver: string, caps: PowerCapabilities, action: PowerAction): void {
  if (!caps.powerActions.includes(action)) throw unsupported(driver, `power ${action}`);
}

/** Throws `bmc_unsupported` unless the capabilities offer this boot override. */
export function assertBootOverride(driver: string, caps: PowerCapabilities, o: BootOverride): void {
  const list = o.persistent ? caps.bootPersistent : caps.bootOnce;
  if (!list.includes(o.device)) {
    throw unsupported(driver, `${o.persistent ? 'persistent' : 'one-time'} boot from ${o.device}`);
  }
}

/** Throws `bmc_unsupported` unless the named boolean capability is set. */
export function assertCapability(
  driver: string,
  caps: PowerCapabilities,
  cap: 'status' | 'virtualMedia' | 'enumerate' | 'inventory',
): void {
  if (!caps[cap]) throw unsupported(driver, cap === 'status' ? 'power status' : cap);
}

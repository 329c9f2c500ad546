import { assertCapability } from './capability.js';
import { parseReportedMacs } from '../net/mac.js';
import type { PowerCallOptions, PowerDriver, SystemSummary } from './power-driver.js';

/**
 * Lists every machine a BMC or hypervisor manages, for out-of-band
 * enlistment: the caller creates or updates one host per entry (match on
 * MACs, then serial) and stores `systemId` as the host's `options.systemId`.
 * Throws `bmc_unsupported` when the driver cannot enumerate.
 */
export async function enlistSystems(driver: PowerDriver, opts?: PowerCallOptions): Promise<SystemSummary[]> {
  assertCapability(driver.driver, driver.capabilities, 'enumerate');
  const systems = await driver.listSystems(opts);
  return systems
    .map((s) => ({ ...s, macs: parseReportedMacs(s.macs) }))
    .sort((a, b) => a.systemId.localeCompare(b.systemId));
}

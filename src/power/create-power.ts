import type { Logger } from '../log/logger.js';
import { createFakePowerDriver } from './fake/fake-power-driver.js';
import { createIpmiDriver } from './ipmi/ipmi-driver.js';
import { createLibvirtDriver } from './libvirt/libvirt-driver.js';
import { createPowerDriverRegistry, type PowerDriverRegistry } from './power-registry.js';
import { createPowerQueue, type PowerQueue, type PowerReport } from './power-queue.js';
import { createRedfishDriver } from './redfish/redfish-driver.js';
import { createWebhookDriver } from './webhook/webhook-driver.js';
import { createWolDriver } from './wol/wol-driver.js';
import type { Clock } from './clock.js';

/** The power domain as the composition root wires it. */
export interface PowerService {
  registry: PowerDriverRegistry;
  queue: PowerQueue;
}

/** Settings slice for the power domain. */
export interface PowerConfig {
  /** Operations in flight at once on this controller. */
  maxConcurrent: number;
  /** Hard limit per operation, in ms (`power-timeout`). */
  timeoutMs: number;
  /** Register the in-memory `fake` driver (for `--dev` mode and tests only). */
  allowFake?: boolean;
  /** Let libvirt addresses be virsh's built-in `test:///default` (setting `power-libvirt-test-driver`; development and tests only). */
  libvirtTestDriver?: boolean;
}

/**
 * Builds the registry of real drivers (ipmi, redfish, libvirt, wol, webhook;
 * plus `fake` when allowed) and the power queue. `onReport` receives every
 * operation's started/succeeded/failed report.
 */
export function createPowerService(
  config: PowerConfig,
  deps: { logger: Logger; onReport: (r: PowerReport) => void; clock?: Clock },
): PowerService {
  const registry = createPowerDriverRegistry(
    {
      ipmi: (s, d) => createIpmiDriver(s, d),
      redfish: (s, d) => createRedfishDriver(s, d),
      libvirt: (s, d) => createLibvirtDriver(s, { ...d, allowTestDriver: config.libvirtTestDriver === true }),
      wol: (s, d) => createWolDriver(s, d),
      webhook: (s, d) => createWebhookDriver(s, { ...d, clock: deps.clock }),
      ...(config.allowFake ? { fake: () => createFakePowerDriver().driver } : {}),
    },
    { logger: deps.logger, checked: ['ipmi', 'redfish', 'libvirt', 'wol', 'webhook'] },
  );
  const queue = createPowerQueue({
    maxConcurrent: config.maxConcurrent,
    timeoutMs: config.timeoutMs,
    onReport: deps.onReport,
    logger: deps.logger,
    clock: deps.clock,
  });
  return { registry, queue };
}

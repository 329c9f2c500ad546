import { createHash } from 'node:crypto';
import type { Logger } from '../log/logger.js';
import type { BmcSettings, PowerDriver } from './power-driver.js';
import type { PowerDriverRegistry } from './power-registry.js';

/**
 * One live driver per host, rebuilt when the host's BMC settings (password
 * included) change. Reuse keeps Redfish sessions and libvirt virsh sessions
 * open between calls. Owned by the host power service; `closeAll` on shutdown.
 */
export interface DriverCache {
  /** The host's driver for these settings; throws `validation_failed` for bad settings. */
  get(hostId: string, settings: BmcSettings): PowerDriver;
  closeAll(): Promise<void>;
}

/** Creates an empty cache over a registry; replaced drivers are closed in the background. */
export function createDriverCache(registry: PowerDriverRegistry, logger: Logger): DriverCache {
  const live = new Map<string, { key: string; driver: PowerDriver }>();
  // A digest, so the map never holds a second copy of the password as a key.
  const keyOf = (s: BmcSettings) =>
    createHash('sha256')
      .update(JSON.stringify([s.driver, s.address, s.username, s.password, s.options ?? {}]))
      .digest('hex');
  const close = (hostId: string, d: PowerDriver) =>
    d.close().catch((err: Error) => logger.warn({ hostId, err: err.message }, 'closing a power driver failed'));
  return {
    get(hostId, settings) {
      const key = keyOf(settings);
      const have = live.get(hostId);
      if (have?.key === key) return have.driver;
      const driver = registry.create(settings);
      if (have) void close(hostId, have.driver);
      live.set(hostId, { key, driver });
      return driver;
    },
    async closeAll() {
      const all = [...live.entries()];
      live.clear();
      await Promise.all(all.map(([id, e]) => close(id, e.driver)));
    },
  };
}

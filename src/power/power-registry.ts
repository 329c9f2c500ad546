import { KilnError } from '../error/kiln-error.js';
import { silentLogger, type Logger } from '../log/logger.js';
import type { BmcSettings, PowerDriver } from './power-driver.js';

/** What every driver factory receives besides the host's settings. */
export interface PowerDriverDeps {
  logger: Logger;
}

/** Builds a driver for one host's BMC settings; throws `validation_failed` for bad options. */
export type PowerDriverFactory = (settings: BmcSettings, deps: PowerDriverDeps) => PowerDriver;

/** Maps a host's `driver` name to its factory. Built once by the composition root. */
export interface PowerDriverRegistry {
  /** Registered driver names, sorted (for API validation and `kiln power drivers`). */
  names(): string[];
  /** Creates a driver for the settings; throws `validation_failed` for an unknown driver. */
  create(settings: BmcSettings): PowerDriver;
  /**
   * Throws `validation_failed` when a checked driver would refuse these
   * settings (its factory validates the address and options before any I/O):
   * lets the inventory refuse them when they are stored, not at the first use.
   * Unknown and unchecked drivers pass (they fail, harmlessly, at use).
   */
  check(settings: BmcSettings): void;
}

/** Creates a registry from name → factory pairs; the logger is handed to every driver as a child. */
export function createPowerDriverRegistry(
  factories: Record<string, PowerDriverFactory>,
  deps: { logger?: Logger; checked?: readonly string[] } = {},
): PowerDriverRegistry {
  const logger = deps.logger ?? silentLogger;
  const table = new Map(Object.entries(factories));
  return {
    names: () => [...table.keys()].sort(),
    create(settings) {
      const factory = table.get(settings.driver);
      if (!factory) {
        const known = [...table.keys()].sort().join(', ');
        throw new KilnError('validation_failed', `unknown power driver "${settings.driver}"; known drivers: ${known}`, {
          issues: [{ path: '/bmc/driver', code: 'unknown_driver', message: `one of: ${known}` }],
        });
      }
      return factory(settings, { logger: logger.child({ driver: settings.driver, bmc: settings.address }) });
    },
    check(settings) {
      const factory = table.get(settings.driver);
      if (!factory || !deps.checked?.includes(settings.driver)) return;
      const d = factory(settings, { logger: silentLogger });
      d.close().catch(() => {
        /* nothing was opened: a built driver holds no session before its first call */
      });
    },
  };
}

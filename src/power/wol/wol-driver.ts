import { createSocket } from 'node:dgram';
import { KilnError } from '../../error/kiln-error.js';
import { silentLogger, type Logger } from '../../log/logger.js';
import { assertPowerAction, unsupported } from '../capability.js';
import { optionReader } from '../driver-options.js';
import { noCapabilities, type BmcSettings, type PowerCapabilities, type PowerDriver } from '../power-driver.js';
import { encodeMagicPacket } from './magic-packet.js';

/** Wake-on-LAN can only wake a machine: no status, off, boot override or enumeration. */
export const wolCapabilities: PowerCapabilities = { ...noCapabilities, powerActions: ['on'] };

/**
 * Creates a Wake-on-LAN driver. `address` is the target MAC. Options:
 * `broadcast` (255.255.255.255; use the subnet's broadcast address to pick
 * the interface), `port` (9), `sourceAddress` (bind to this local address,
 * which selects the outgoing interface), `repeat` (3 packets, 100 ms apart,
 * because UDP may drop one).
 */
export function createWolDriver(settings: BmcSettings, deps: { logger?: Logger } = {}): PowerDriver {
  const name = settings.driver || 'wol';
  const opt = optionReader(name, settings.options);
  const packet = encodeMagicPacket(settings.address);
  const broadcast = opt.string('broadcast') ?? '255.255.255.255';
  const port = opt.number('port', 9);
  const source = opt.string('sourceAddress');
  const repeat = Math.max(1, opt.number('repeat', 3));
  // Operator input bounds what one power-on sends: a packet count of 1e9 would keep the queue slot busy until its timeout.
  if (!Number.isInteger(repeat) || repeat > 10) {
    throw new KilnError('validation_failed', 'Wake-on-LAN option repeat must be a whole number from 1 to 10', {
      issues: [{ path: '/bmc/options/repeat', code: 'invalid_value', message: '1 to 10' }],
    });
  }
  if (!Number.isInteger(port) || port < 1 || port > 65535) {
    throw new KilnError('validation_failed', 'Wake-on-LAN option port must be 1 to 65535', {
      issues: [{ path: '/bmc/options/port', code: 'invalid_value', message: '1 to 65535' }],
    });
  }
  const logger = deps.logger ?? silentLogger;

  async function send(signal?: AbortSignal): Promise<void> {
    const sock = createSocket('udp4');
    try {
      await new Promise<void>((resolve, reject) => {
        sock.once('error', reject);
        sock.bind({ address: source, port: 0 }, () => {
          sock.off('error', reject);
          resolve();
        });
      });
      sock.setBroadcast(true);
      for (let i = 0; i < repeat; i++) {
        if (signal?.aborted) throw new KilnError('bmc_timeout', 'Wake-on-LAN send aborted');
        await new Promise<void>((resolve, reject) =>
          sock.send(packet, port, broadcast, (err) => (err ? reject(err) : resolve())),
        );
        if (i + 1 < repeat) await new Promise((r) => setTimeout(r, 100));
      }
      logger.info({ mac: settings.address, broadcast, port }, 'Wake-on-LAN magic packet sent');
    } catch (err) {
      if (err instanceof KilnError) throw err;
      throw new KilnError('bmc_error', `Wake-on-LAN to ${broadcast}:${port} failed: ${(err as Error).message}`);
    } finally {
      sock.close();
    }
  }

  return {
    driver: name,
    capabilities: wolCapabilities,
    powerStatus: async () => {
      throw unsupported(name, 'power status');
    },
    async setPower(action, o) {
      assertPowerAction(name, wolCapabilities, action);
      await send(o?.signal);
    },
    setBootDevice: async (b) => {
      throw unsupported(name, `${b.persistent ? 'persistent' : 'one-time'} boot from ${b.device}`);
    },
    insertMedia: async () => {
      throw unsupported(name, 'virtualMedia');
    },
    ejectMedia: async () => {
      throw unsupported(name, 'virtualMedia');
    },
    listSystems: async () => {
      throw unsupported(name, 'enumerate');
    },
    readInventory: async () => {
      throw unsupported(name, 'inventory');
    },
    close: async () => {},
  };
}

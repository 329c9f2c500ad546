import { KilnError } from '../../error/kiln-error.js';
import { silentLogger, type Logger } from '../../log/logger.js';
import { assertBootOverride, assertPowerAction, unsupported } from '../capability.js';
import { optionReader } from '../driver-options.js';
import type { BmcSettings, BootDevice, PowerAction, PowerCapabilities, PowerDriver } from '../power-driver.js';
import { redactSecrets } from '../secret.js';
import { runTool } from '../run-tool.js';
import { bmcMessage, classifyIpmitoolError, parsePowerStatus } from './parse-ipmitool.js';

/** IPMI over LAN (RMCP+, `ipmitool -I lanplus`): power, status, PXE/disk boot override; no media or enumeration. */
export const ipmiCapabilities: PowerCapabilities = {
  powerActions: ['on', 'off', 'cycle', 'soft-off'], status: true,
  bootOnce: ['network', 'disk'], bootPersistent: ['network', 'disk'],
  virtualMedia: false, enumerate: false, inventory: false,
};

/** Extra dependencies of the IPMI driver; tests use `onSpawn` to inspect the child's argv. */
export interface IpmiDriverDeps {
  logger?: Logger;
  ipmitoolPath?: string;
  onSpawn?: (pid: number) => void;
}

// ipmitool chassis power sub-commands (ipmitool(1), "chassis power").
const powerVerb: Record<PowerAction, string> = { on: 'on', off: 'off', cycle: 'cycle', 'soft-off': 'soft' };
// ipmitool chassis bootdev devices (IPMI 2.0 table 28-14, boot device selector).
const bootVerb: Partial<Record<BootDevice, string>> = { network: 'pxe', disk: 'disk' };

/**
 * Creates an IPMI driver. Address is `host` or `host:port`; options:
 * `port` (623), `cipherSuite` (3), `retries` (-R, 2), `retryTimeoutSec`
 * (-N, 2), `timeoutMs` (hard kill, 20000), `uefi` (add efiboot, false).
 * The password reaches ipmitool only through IPMI_PASSWORD (`-E`).
 */
export function createIpmiDriver(settings: BmcSettings, deps: IpmiDriverDeps = {}): PowerDriver {
  const name = settings.driver || 'ipmi';
  const opt = optionReader(name, settings.options);
  const [host, portText] = settings.address.includes(':') ? settings.address.split(':') : [settings.address, undefined];
  const port = portText ? Number(portText) : opt.number('port', 623);
  const cipher = opt.number('cipherSuite', 3);
  const retries = opt.number('retries', 2);
  const retrySec = opt.number('retryTimeoutSec', 2);
  const timeoutMs = opt.number('timeoutMs', 20_000);
  const uefiDefault = opt.boolean('uefi', false);
  const logger = deps.logger ?? silentLogger;
  const secrets = [settings.password];
  const baseArgs = [
    '-I', 'lanplus', '-H', host!, '-p', String(port), '-U', settings.username ?? '', '-E',
    '-C', String(cipher), '-N', String(retrySec), '-R', String(retries), '-v',
  ];

  async function ipmitool(args: string[], signal?: AbortSignal): Promise<string> {
    const started = Date.now();
    const r = await runTool(deps.ipmitoolPath ?? 'ipmitool', [...baseArgs, ...args], {
      env: { PATH: process.env.PATH ?? '/usr/bin:/bin', IPMI_PASSWORD: settings.password ?? '' },
      timeoutMs, signal, onSpawn: deps.onSpawn,
    }).catch((err: Error) => {
      throw new KilnError('bmc_error', `cannot run ipmitool: ${err.message}`, { details: { driver: name } });
    });
    const stderr = redactSecrets(r.stderr, secrets);
    logger.debug({ command: args.join(' '), code: r.code, ms: Date.now() - started }, 'ipmitool');
    if (r.timedOut) {
      throw new KilnError('bmc_timeout', `BMC ${host}:${port} did not answer within ${timeoutMs} ms`, { details: { driver: name, command: args.join(' ') } });
    }
    if (r.code === 0) return r.stdout;
    const kind = classifyIpmitoolError(stderr);
    const msg = bmcMessage(stderr);
    if (kind === 'no_answer') {
      throw new KilnError('bmc_timeout', `BMC ${host}:${port} did not answer: ${msg}`, { details: { driver: name, command: args.join(' ') } });
    }
    const why = kind === 'auth' ? 'authentication failed' : kind === 'cipher' ? `cipher suite ${cipher} refused` : 'command failed';
    throw new KilnError('bmc_error', `BMC ${host}:${port} ${why}: ${msg}`, { details: { driver: name, command: args.join(' '), reason: kind } });
  }

  return {
    driver: name,
    capabilities: ipmiCapabilities,
    async powerStatus(o) {
      const out = await ipmitool(['chassis', 'power', 'status'], o?.signal);
      const state = parsePowerStatus(out);
      if (!state) throw new KilnError('bmc_error', `BMC ${host}:${port} gave an unreadable power status: ${JSON.stringify(out.slice(0, 200))}`, { details: { driver: name } });
      return state;
    },
    async setPower(action, o) {
      assertPowerAction(name, ipmiCapabilities, action);
      await ipmitool(['chassis', 'power', powerVerb[action]], o?.signal);
    },
    async setBootDevice(b, o) {
      assertBootOverride(name, ipmiCapabilities, b);
      const options = [...((b.uefi ?? uefiDefault) ? ['efiboot'] : []), ...(b.persistent ? ['persistent'] : [])];
      await ipmitool(['chassis', 'bootdev', bootVerb[b.device]!, ...(options.length ? [`options=${options.join(',')}`] : [])], o?.signal);
    },
    insertMedia: async () => { throw unsupported(name, 'virtualMedia'); },
    ejectMedia: async () => { throw unsupported(name, 'virtualMedia'); },
    listSystems: async () => { throw unsupported(name, 'enumerate'); },
    readInventory: async () => { throw unsupported(name, 'inventory'); },
    close: async () => { /* ipmitool holds no session between calls */ },
  };
}

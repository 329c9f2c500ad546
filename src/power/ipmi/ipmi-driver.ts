import { KilnError } from '../../error/kiln-error.js';
import { silentLogger, type Logger } from '../../log/logger.js';
import { assertBootOverride, assertPowerAction, unsupported } from '../capability.js';
import { optionReader } from '../driver-options.js';
import type { BmcSettings, BootDevice, PowerAction, PowerCapabilities, PowerDriver } from '../power-driver.js';
import { redactSecrets } from '../secret.js';
import { execTool } from '../../process/run-tool.js';
import { bmcMessage, classifyIpmitoolError, parsePowerStatus } from './parse-ipmitool.js';

/** IPMI over LAN (RMCP+, `ipmitool -I lanplus`): power, status, PXE/disk boot override; no media or enumeration. */
export const ipmiCapabilities: PowerCapabilities = {
  powerActions: ['on', 'off', 'cycle', 'soft-off'],
  status: true,
  bootOnce: ['network', 'disk'],
  bootPersistent: ['network', 'disk'],
  virtualMedia: false,
  enumerate: false,
  inventory: false,
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

const hostName = /^[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?(?:\.[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?)*$/;
const ipv6 = /^[0-9A-Fa-f:.]{2,45}$/;

function refuse(path: string, why: string): never {
  throw new KilnError('validation_failed', `IPMI ${why}`, { issues: [{ path, code: 'invalid_value', message: why }] });
}

/**
 * Reads an operator's IPMI address and user as ipmitool will get them: a
 * host name, IPv4 or `[IPv6]` with an optional port (1–65535), and a user of
 * at most 16 printable characters (IPMI 2.0's limit). Neither may start with
 * `-`: each is its own argv word after `-H`/`-U`, but no tool of ours should
 * ever see an option where it expects a value.
 */
export function parseIpmiAddress(address: string, portOption: number): { host: string; port: number } {
  const m = /^(?:\[([^\]]*)\]|([^:[\]]*))(?::(\d{1,5}))?$/.exec(address);
  if (!m) refuse('/bmc/address', 'address must be host, host:port, [IPv6] or [IPv6]:port');
  const host = m[1] ?? m[2] ?? '';
  if (m[1] !== undefined ? !ipv6.test(host) : !hostName.test(host))
    refuse(
      '/bmc/address',
      'address must be a host name or IP address (letters, digits, dots, dashes; not starting with "-")',
    );
  const port = m[3] !== undefined ? Number(m[3]) : portOption;
  if (!Number.isInteger(port) || port < 1 || port > 65535)
    refuse(m[3] !== undefined ? '/bmc/address' : '/bmc/options/port', 'port must be 1 to 65535');
  return { host, port };
}

/** A whole number option within bounds (ipmitool reads these with atoi; 1.5 or 1e9 would mean something else). */
function intOption(value: number, key: string, min: number, max: number): number {
  if (!Number.isInteger(value) || value < min || value > max)
    refuse(`/bmc/options/${key}`, `options.${key} must be a whole number from ${min} to ${max}`);
  return value;
}

/**
 * Creates an IPMI driver. Address is `host` or `host:port`; options:
 * `port` (623), `cipherSuite` (3), `retries` (-R, 2), `retryTimeoutSec`
 * (-N, 2), `timeoutMs` (hard kill, 20000), `uefi` (add efiboot, false).
 * The password reaches ipmitool only through IPMI_PASSWORD (`-E`).
 */
export function createIpmiDriver(settings: BmcSettings, deps: IpmiDriverDeps = {}): PowerDriver {
  const name = settings.driver || 'ipmi';
  const opt = optionReader(name, settings.options);
  const { host, port } = parseIpmiAddress(settings.address, opt.number('port', 623));
  const cipher = intOption(opt.number('cipherSuite', 3), 'cipherSuite', 0, 17);
  const retries = intOption(opt.number('retries', 2), 'retries', 0, 20);
  const retrySec = intOption(opt.number('retryTimeoutSec', 2), 'retryTimeoutSec', 1, 60);
  const user = settings.username ?? '';
  if (!/^(?:[!-,.-~][ -~]{0,15})?$/.test(user))
    refuse('/bmc/username', 'username must be at most 16 printable ASCII characters, not starting with "-" or a space');
  // A NUL cannot reach the child's environment, and Node's error would quote the value.
  if (settings.password?.includes('\u0000')) refuse('/bmc/password', 'password may not contain a NUL character');
  const timeoutMs = opt.number('timeoutMs', 20_000);
  const uefiDefault = opt.boolean('uefi', false);
  const logger = deps.logger ?? silentLogger;
  const secrets = [settings.password];
  const baseArgs = [
    '-I',
    'lanplus',
    '-H',
    host,
    '-p',
    String(port),
    '-U',
    user,
    '-E',
    '-C',
    String(cipher),
    '-N',
    String(retrySec),
    '-R',
    String(retries),
    '-v',
  ];

  async function ipmitool(args: string[], signal?: AbortSignal): Promise<string> {
    const started = Date.now();
    const r = await execTool(deps.ipmitoolPath ?? 'ipmitool', [...baseArgs, ...args], {
      env: { PATH: process.env.PATH ?? '/usr/bin:/bin', IPMI_PASSWORD: settings.password ?? '' },
      timeoutMs,
      signal,
      onSpawn: deps.onSpawn,
    }).catch((err: Error) => {
      logger.debug({ err: redactSecrets(err.message, secrets) }, 'ipmitool could not be started');
      throw new KilnError('bmc_error', 'cannot run ipmitool (is it installed and on PATH?)', {
        details: { driver: name },
      });
    });
    const stderr = redactSecrets(r.stderr, secrets);
    // ipmitool's own words go to the debug log only; callers and events get a fixed sentence per kind of failure.
    logger.debug(
      {
        command: args.join(' '),
        code: r.code,
        ms: Date.now() - started,
        ...(r.code === 0 ? {} : { stderr: bmcMessage(stderr) }),
      },
      'ipmitool',
    );
    if (r.timedOut) {
      throw new KilnError('bmc_timeout', `BMC ${host}:${port} did not answer within ${timeoutMs} ms`, {
        details: { driver: name, command: args.join(' ') },
      });
    }
    if (r.code === 0) return r.stdout;
    const kind = classifyIpmitoolError(stderr);
    if (kind === 'no_answer') {
      throw new KilnError(
        'bmc_timeout',
        `BMC ${host}:${port} did not answer (check the address, port and that IPMI over LAN is on)`,
        { details: { driver: name, command: args.join(' ') } },
      );
    }
    const why =
      kind === 'auth'
        ? 'authentication failed (check the username and password)'
        : kind === 'cipher'
          ? `refused cipher suite ${cipher} (set options.cipherSuite)`
          : "command failed (ipmitool's message is in the controller log at debug)";
    throw new KilnError('bmc_error', `BMC ${host}:${port} ${why}`, {
      details: { driver: name, command: args.join(' '), reason: kind },
    });
  }

  return {
    driver: name,
    capabilities: ipmiCapabilities,
    async powerStatus(o) {
      const out = await ipmitool(['chassis', 'power', 'status'], o?.signal);
      const state = parsePowerStatus(out);
      if (!state) {
        logger.debug({ stdout: redactSecrets(out.slice(0, 500), secrets) }, 'ipmitool power status unreadable');
        throw new KilnError(
          'bmc_error',
          `BMC ${host}:${port} gave an unreadable power status (ipmitool's output is in the controller log at debug)`,
          { details: { driver: name } },
        );
      }
      return state;
    },
    async setPower(action, o) {
      assertPowerAction(name, ipmiCapabilities, action);
      await ipmitool(['chassis', 'power', powerVerb[action]], o?.signal);
    },
    async setBootDevice(b, o) {
      assertBootOverride(name, ipmiCapabilities, b);
      const options = [...((b.uefi ?? uefiDefault) ? ['efiboot'] : []), ...(b.persistent ? ['persistent'] : [])];
      await ipmitool(
        ['chassis', 'bootdev', bootVerb[b.device]!, ...(options.length ? [`options=${options.join(',')}`] : [])],
        o?.signal,
      );
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
    close: async () => {
      /* ipmitool holds no session between calls */
    },
  };
}

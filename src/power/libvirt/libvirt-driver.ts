import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { KilnError } from '../../error/kiln-error.js';
import { silentLogger, type Logger } from '../../log/logger.js';
import { assertBootOverride, assertPowerAction, unsupported } from '../capability.js';
import { optionReader } from '../driver-options.js';
import type { BmcSettings, PowerCapabilities, PowerDriver, PowerState, SystemSummary } from '../power-driver.js';
import { setDomainBoot, summarizeDomain } from './domain-xml.js';
import { checkLibvirtUri } from './libvirt-uri.js';
import { createVirshExec, createVirshSession, type VirshRunner } from './virsh-runner.js';

/**
 * libvirt has no one-time boot override, so only persistent boot order is
 * offered (Kiln's iPXE script exits to disk, so "network first" is safe for
 * VMs). No virtual media: attaching ISOs is left to the hypervisor operator.
 */
export const libvirtCapabilities: PowerCapabilities = {
  powerActions: ['on', 'off', 'cycle', 'soft-off'],
  status: true,
  bootOnce: [],
  bootPersistent: ['network', 'disk'],
  virtualMedia: false,
  enumerate: true,
  inventory: true,
};

// `virsh domstate` words (virDomainState, tools/virsh-domain-monitor.c).
const stateOf: Record<string, PowerState> = {
  running: 'on',
  idle: 'on',
  paused: 'on',
  'in shutdown': 'on',
  pmsuspended: 'on',
  blocked: 'on',
  'shut off': 'off',
  crashed: 'off',
  'no state': 'unknown',
};

/** Why a virsh call failed, as a fixed sentence: virsh's own stderr goes to the debug log only (it can quote files and tools). */
export function virshFailure(stderr: string): string {
  if (/cannot start virsh/i.test(stderr)) return 'cannot run virsh (is it installed and on PATH?)';
  if (
    /failed to connect to the hypervisor|cannot recv data|connection refused|unable to connect|no route to host|name or service not known|session exited/i.test(
      stderr,
    )
  ) {
    return 'cannot connect to the hypervisor (check the address and that libvirtd runs; details in the controller log at debug)';
  }
  if (/authentication (failed|unavailable)|permission denied|access denied|not authorized/i.test(stderr))
    return "the hypervisor refused the credentials of the controller's user";
  if (/failed to get domain|domain not found|no domain with matching/i.test(stderr)) return 'no such domain';
  if (/requested operation is not valid/i.test(stderr)) return 'the domain is not in a state that allows this';
  return 'virsh reported an error (details in the controller log at debug)';
}

// A libvirt domain name as Kiln passes it to virsh: no control characters, not starting with "-" or a space.
// eslint-disable-next-line no-control-regex
const domainPattern = /^[^\s\-\u0000-\u001f\u007f][^\u0000-\u001f\u007f]{0,254}$/;

/**
 * Creates a libvirt driver. `address` is the libvirt URI (`qemu:///system`,
 * `qemu+ssh://hv1/system`; `test:///default` only with `deps.allowTestDriver`),
 * checked by `checkLibvirtUri` before anything runs; `options.domain` (or `systemId`) names the domain
 * (required except for `listSystems`); `options.session: true` keeps one
 * interactive virsh per driver (the default for `test:///default`, whose state lives in one process);
 * `options.timeoutMs` (20000). The password is not used: libvirt
 * authenticates through the URI's transport (SSH keys, SASL config).
 */
export function createLibvirtDriver(
  settings: BmcSettings,
  deps: { logger?: Logger; runner?: VirshRunner; allowTestDriver?: boolean } = {},
): PowerDriver {
  const name = settings.driver || 'libvirt';
  // Before anything else: the address reaches `virsh -c` (see libvirt-uri.ts for what is refused and why).
  checkLibvirtUri(settings.address, { allowTestDriver: deps.allowTestDriver });
  const opt = optionReader(name, settings.options);
  const timeoutMs = opt.number('timeoutMs', 20_000);
  // `systemId` is what enlistment stores for every driver (SystemSummary.systemId is the domain name here).
  const domainKey = opt.string('domain') !== undefined ? 'domain' : 'systemId';
  const domainName = opt.string(domainKey);
  if (domainName !== undefined && !domainPattern.test(domainName)) {
    throw new KilnError(
      'validation_failed',
      `libvirt driver: options.${domainKey} must be a domain name (no control characters, not starting with "-" or a space)`,
      {
        issues: [{ path: `/bmc/options/${domainKey}`, code: 'invalid_value', message: 'a libvirt domain name' }],
      },
    );
  }
  const logger = deps.logger ?? silentLogger;
  const runner =
    deps.runner ??
    (opt.boolean('session', settings.address.startsWith('test:')) ? createVirshSession : createVirshExec)(
      settings.address,
      { timeoutMs },
    );

  const domain = (): string => {
    if (!domainName) {
      throw new KilnError('validation_failed', 'libvirt driver needs options.domain (the domain name)', {
        issues: [{ path: '/bmc/options/domain', code: 'required', message: 'the libvirt domain name' }],
      });
    }
    return domainName;
  };

  async function virsh(args: string[], signal?: AbortSignal, tolerate?: RegExp): Promise<string> {
    const r = await runner.run(args, signal).catch((e: unknown) => {
      if (e instanceof KilnError) throw e;
      logger.debug({ command: args[0], err: (e as Error).message }, 'virsh could not be started');
      throw new KilnError('bmc_error', `libvirt ${settings.address}: cannot run virsh (is it installed and on PATH?)`, {
        details: { driver: name },
      });
    });
    logger.debug({ command: args[0], ok: r.ok, ...(r.ok ? {} : { stderr: r.stderr.slice(0, 2000) }) }, 'virsh');
    if (!r.ok && !(tolerate && tolerate.test(r.stderr))) {
      throw new KilnError(
        'bmc_error',
        `libvirt ${settings.address}: virsh ${args[0]} failed: ${virshFailure(r.stderr)}`,
        { details: { driver: name } },
      );
    }
    return r.stdout;
  }

  async function status(signal?: AbortSignal): Promise<PowerState> {
    const out = (await virsh(['domstate', '--domain', domain()], signal)).trim().split('\n')[0]?.trim() ?? '';
    const s = Object.hasOwn(stateOf, out) ? stateOf[out] : undefined;
    if (!s) {
      logger.debug({ stdout: out.slice(0, 200) }, 'virsh domstate printed no known state');
      throw new KilnError('bmc_error', `libvirt ${settings.address}: virsh domstate printed no known domain state`);
    }
    return s;
  }

  return {
    driver: name,
    capabilities: libvirtCapabilities,
    powerStatus: (o) => status(o?.signal),
    async setPower(action, o) {
      assertPowerAction(name, libvirtCapabilities, action);
      const sig = o?.signal;
      // Idempotent like a BMC: starting a running domain or stopping a stopped one is not an error.
      // Domain names always follow `--domain`, so a name can never be read as an option.
      if (action === 'on') await virsh(['start', '--domain', domain()], sig, /already active/i);
      if (action === 'off') await virsh(['destroy', '--domain', domain()], sig, /not running/i);
      if (action === 'soft-off') await virsh(['shutdown', '--domain', domain()], sig, /not running/i);
      if (action === 'cycle') {
        // a power cycle: hard off, then on (reset is not offered by every hypervisor driver)
        await virsh(['destroy', '--domain', domain()], sig, /not running/i);
        await virsh(['start', '--domain', domain()], sig);
      }
    },
    async setBootDevice(b, o) {
      assertBootOverride(name, libvirtCapabilities, b);
      const xml = await virsh(['dumpxml', '--inactive', '--domain', domain()], o?.signal);
      const dir = await mkdtemp(join(tmpdir(), 'kiln-virsh-'));
      try {
        await writeFile(join(dir, 'domain.xml'), setDomainBoot(xml, b.device as 'network' | 'disk'));
        await virsh(['define', join(dir, 'domain.xml')], o?.signal);
      } finally {
        await rm(dir, { recursive: true, force: true });
      }
    },
    insertMedia: async () => {
      throw unsupported(name, 'virtualMedia');
    },
    ejectMedia: async () => {
      throw unsupported(name, 'virtualMedia');
    },
    async listSystems(o) {
      const names = (await virsh(['list', '--all', '--name'], o?.signal))
        .split('\n')
        .map((l) => l.trim())
        .filter(Boolean);
      const out: SystemSummary[] = [];
      for (const n of names) {
        const inv = summarizeDomain(await virsh(['dumpxml', '--domain', n], o?.signal));
        const st = (await virsh(['domstate', '--domain', n], o?.signal)).trim();
        const state = Object.hasOwn(stateOf, st) ? stateOf[st] : undefined;
        out.push({
          systemId: inv.systemId,
          name: inv.name,
          macs: inv.macs,
          firmware: inv.firmware,
          ...(inv.uuid ? { uuid: inv.uuid } : {}),
          ...(state ? { powerState: state } : {}),
        });
      }
      return out;
    },
    async readInventory(o) {
      return {
        ...summarizeDomain(await virsh(['dumpxml', '--domain', domain()], o?.signal)),
        powerState: await status(o?.signal),
      };
    },
    close: () => runner.close(),
  };
}

import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { KilnError } from '../../error/kiln-error.js';
import { silentLogger, type Logger } from '../../log/logger.js';
import { assertBootOverride, assertPowerAction, unsupported } from '../capability.js';
import { optionReader } from '../driver-options.js';
import type { BmcSettings, PowerCapabilities, PowerDriver, PowerState, SystemSummary } from '../power-driver.js';
import { setDomainBoot, summarizeDomain } from './domain-xml.js';
import { createVirshExec, createVirshSession, type VirshRunner } from './virsh-runner.js';

/**
 * libvirt has no one-time boot override, so only persistent boot order is
 * offered (Kiln's iPXE script exits to disk, so "network first" is safe for
 * VMs). No virtual media: attaching ISOs is left to the hypervisor operator.
 */
export const libvirtCapabilities: PowerCapabilities = {
  powerActions: ['on', 'off', 'cycle', 'soft-off'], status: true,
  bootOnce: [], bootPersistent: ['network', 'disk'],
  virtualMedia: false, enumerate: true, inventory: true,
};

// `virsh domstate` words (virDomainState, tools/virsh-domain-monitor.c).
const stateOf: Record<string, PowerState> = {
  running: 'on', idle: 'on', paused: 'on', 'in shutdown': 'on', pmsuspended: 'on', blocked: 'on',
  'shut off': 'off', crashed: 'off', 'no state': 'unknown',
};

/**
 * Creates a libvirt driver. `address` is the libvirt URI (`qemu:///system`,
 * `qemu+ssh://hv1/system`, `test:///…`); `options.domain` (or `systemId`) names the domain
 * (required except for `listSystems`); `options.session: true` keeps one
 * interactive virsh per driver (required for `test:///` URIs);
 * `options.timeoutMs` (20000). The password is not used: libvirt
 * authenticates through the URI's transport (SSH keys, SASL config).
 */
export function createLibvirtDriver(settings: BmcSettings, deps: { logger?: Logger; runner?: VirshRunner } = {}): PowerDriver {
  const name = settings.driver || 'libvirt';
  const opt = optionReader(name, settings.options);
  const timeoutMs = opt.number('timeoutMs', 20_000);
  // `systemId` is what enlistment stores for every driver (SystemSummary.systemId is the domain name here).
  const domainName = opt.string('domain') ?? opt.string('systemId');
  const logger = deps.logger ?? silentLogger;
  const runner = deps.runner
    ?? (opt.boolean('session', settings.address.startsWith('test:')) ? createVirshSession : createVirshExec)(settings.address, { timeoutMs });

  const domain = (): string => {
    if (!domainName) {
      throw new KilnError('validation_failed', 'libvirt driver needs options.domain (the domain name)', {
        issues: [{ path: '/bmc/options/domain', code: 'required', message: 'the libvirt domain name' }],
      });
    }
    return domainName;
  };

  async function virsh(args: string[], signal?: AbortSignal, tolerate?: RegExp): Promise<string> {
    const r = await runner.run(args, signal);
    logger.debug({ command: args[0], ok: r.ok }, 'virsh');
    if (!r.ok && !(tolerate && tolerate.test(r.stderr))) {
      const msg = r.stderr.replace(/^error: /gm, '').trim().split('\n').join('; ').slice(0, 500);
      throw new KilnError('bmc_error', `libvirt ${settings.address}: virsh ${args[0]} failed: ${msg || 'no message'}`, { details: { driver: name } });
    }
    return r.stdout;
  }

  async function status(signal?: AbortSignal): Promise<PowerState> {
    const out = (await virsh(['domstate', domain()], signal)).trim().split('\n')[0]?.trim() ?? '';
    const s = stateOf[out];
    if (!s) throw new KilnError('bmc_error', `libvirt ${settings.address}: unreadable domain state ${JSON.stringify(out)}`);
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
      if (action === 'on') await virsh(['start', domain()], sig, /already active/i);
      if (action === 'off') await virsh(['destroy', domain()], sig, /not running/i);
      if (action === 'soft-off') await virsh(['shutdown', domain()], sig, /not running/i);
      if (action === 'cycle') { // a power cycle: hard off, then on (reset is not offered by every hypervisor driver)
        await virsh(['destroy', domain()], sig, /not running/i);
        await virsh(['start', domain()], sig);
      }
    },
    async setBootDevice(b, o) {
      assertBootOverride(name, libvirtCapabilities, b);
      const xml = await virsh(['dumpxml', '--inactive', domain()], o?.signal);
      const dir = await mkdtemp(join(tmpdir(), 'kiln-virsh-'));
      try {
        await writeFile(join(dir, 'domain.xml'), setDomainBoot(xml, b.device as 'network' | 'disk'));
        await virsh(['define', join(dir, 'domain.xml')], o?.signal);
      } finally {
        await rm(dir, { recursive: true, force: true });
      }
    },
    insertMedia: async () => { throw unsupported(name, 'virtualMedia'); },
    ejectMedia: async () => { throw unsupported(name, 'virtualMedia'); },
    async listSystems(o) {
      const names = (await virsh(['list', '--all', '--name'], o?.signal)).split('\n').map((l) => l.trim()).filter(Boolean);
      const out: SystemSummary[] = [];
      for (const n of names) {
        const inv = summarizeDomain(await virsh(['dumpxml', n], o?.signal));
        const state = stateOf[(await virsh(['domstate', n], o?.signal)).trim()];
        out.push({ systemId: inv.systemId, name: inv.name, macs: inv.macs, firmware: inv.firmware, ...(inv.uuid ? { uuid: inv.uuid } : {}), ...(state ? { powerState: state } : {}) });
      }
      return out;
    },
    async readInventory(o) {
      return { ...summarizeDomain(await virsh(['dumpxml', domain()], o?.signal)), powerState: await status(o?.signal) };
    },
    close: () => runner.close(),
  };
}

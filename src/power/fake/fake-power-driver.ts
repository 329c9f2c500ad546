import { KilnError } from '../../error/kiln-error.js';
import { assertBootOverride, assertCapability, assertPowerAction } from '../capability.js';
import {
  noCapabilities,
  powerActions,
  type BootOverride,
  type PowerCapabilities,
  type PowerDriver,
  type PowerState,
  type SystemInventory,
  type SystemSummary,
} from '../power-driver.js';

/** What the fake machine looks like right now; tests read and change it directly. */
export interface FakeMachine {
  power: PowerState;
  boot: BootOverride | undefined;
  media: string | undefined;
  /** Every call in order (`status`, `power on`, `boot network once`, …), for assertions. */
  calls: string[];
}

/** Options for the fake driver; every field is optional. */
export interface FakePowerDriverOptions {
  capabilities?: Partial<PowerCapabilities>;
  initial?: PowerState;
  /** Systems returned by `listSystems`; the first is the one this instance controls. */
  systems?: SystemSummary[];
  /** Milliseconds each call takes (0 by default). */
  delayMs?: number;
  /** When true, every call waits until aborted (a hung BMC). */
  hang?: boolean;
}

/** Everything the fake offers: all actions, all boot devices, media, enumeration and inventory. */
export const fakeCapabilities: PowerCapabilities = {
  powerActions,
  status: true,
  bootOnce: ['network', 'disk', 'http'],
  bootPersistent: ['network', 'disk', 'http'],
  virtualMedia: true,
  enumerate: true,
  inventory: true,
};

const defaultSystem: SystemSummary = {
  systemId: 'fake-1',
  name: 'fake-1',
  macs: ['52:54:00:00:00:01'],
  firmware: 'uefi',
  serial: 'FAKE0001',
};

function wait(ms: number, hang: boolean, signal?: AbortSignal): Promise<void> {
  return new Promise((resolve, reject) => {
    if (signal?.aborted) {
      reject(new KilnError('bmc_timeout', 'fake BMC call aborted'));
      return;
    }
    const t = hang ? undefined : setTimeout(done, ms);
    function done(): void {
      signal?.removeEventListener('abort', onAbort);
      resolve();
    }
    function onAbort(): void {
      if (t) clearTimeout(t);
      reject(new KilnError('bmc_timeout', 'fake BMC call aborted'));
    }
    signal?.addEventListener('abort', onAbort, { once: true });
  });
}

/**
 * An in-memory power driver for unit tests and `--dev` mode. Returns the
 * driver and the machine it controls so tests can inspect and change state.
 */
export function createFakePowerDriver(opts: FakePowerDriverOptions = {}): {
  driver: PowerDriver;
  machine: FakeMachine;
} {
  const caps: PowerCapabilities = { ...fakeCapabilities, ...opts.capabilities };
  const machine: FakeMachine = { power: opts.initial ?? 'off', boot: undefined, media: undefined, calls: [] };
  const systems = opts.systems ?? [defaultSystem];
  const name = 'fake';
  const step = async (call: string, signal?: AbortSignal): Promise<void> => {
    machine.calls.push(call);
    if (opts.delayMs || opts.hang) await wait(opts.delayMs ?? 0, opts.hang ?? false, signal);
  };
  const driver: PowerDriver = {
    driver: name,
    capabilities: caps,
    async powerStatus(o) {
      assertCapability(name, caps, 'status');
      await step('status', o?.signal);
      return machine.power;
    },
    async setPower(action, o) {
      assertPowerAction(name, caps, action);
      await step(`power ${action}`, o?.signal);
      machine.power = action === 'off' || action === 'soft-off' ? 'off' : 'on';
    },
    async setBootDevice(b, o) {
      assertBootOverride(name, caps, b);
      await step(`boot ${b.device} ${b.persistent ? 'persistent' : 'once'}`, o?.signal);
      machine.boot = { ...b };
    },
    async insertMedia(url, o) {
      assertCapability(name, caps, 'virtualMedia');
      await step('media insert', o?.signal);
      machine.media = url;
    },
    async ejectMedia(o) {
      assertCapability(name, caps, 'virtualMedia');
      await step('media eject', o?.signal);
      machine.media = undefined;
    },
    async listSystems(o) {
      assertCapability(name, caps, 'enumerate');
      await step('list', o?.signal);
      return systems.map((s, i) => (i === 0 ? { ...s, powerState: machine.power } : { ...s }));
    },
    async readInventory(o): Promise<SystemInventory> {
      assertCapability(name, caps, 'inventory');
      await step('inventory', o?.signal);
      return { ...systems[0], powerState: machine.power, cpuCount: 2, memoryMiB: 4096 };
    },
    async close() {
      /* nothing held */
    },
  };
  return { driver, machine };
}

/** A driver that claims every capability and fails every call with `bmc_error` (the "broken" fake). */
export function createBrokenPowerDriver(message = 'fake BMC is broken'): PowerDriver {
  const fail = async (): Promise<never> => {
    throw new KilnError('bmc_error', message, { details: { driver: 'broken' } });
  };
  return {
    driver: 'broken',
    capabilities: { ...noCapabilities, ...fakeCapabilities },
    powerStatus: fail,
    setPower: fail,
    setBootDevice: fail,
    insertMedia: fail,
    ejectMedia: fail,
    listSystems: fail,
    readInventory: fail,
    close: async () => {},
  };
}

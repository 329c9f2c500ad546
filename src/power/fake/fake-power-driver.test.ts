import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { hasCode } from '../../error/kiln-error.js';
import { runPowerDriverConformance } from '../power-driver.conformance.js';
import { createBrokenPowerDriver, createFakePowerDriver } from './fake-power-driver.js';

runPowerDriverConformance({
  name: 'fake (everything offered)',
  setup: async () => {
    const { driver, machine } = createFakePowerDriver();
    return { driver, observePower: async () => machine.power, observeBoot: async () => machine.boot?.device };
  },
  errorCases: [{ name: 'broken BMC', create: () => createBrokenPowerDriver(), code: 'bmc_error' }],
});

runPowerDriverConformance({
  name: 'fake (power on only, like Wake-on-LAN)',
  setup: async () => {
    const { driver, machine } = createFakePowerDriver({
      capabilities: {
        powerActions: ['on'],
        status: false,
        bootOnce: [],
        bootPersistent: [],
        virtualMedia: false,
        enumerate: false,
        inventory: false,
      },
    });
    return { driver, observePower: async () => machine.power };
  },
});

describe('fake power driver', () => {
  it('records calls in order and keeps boot and media state', async () => {
    const { driver, machine } = createFakePowerDriver();
    await driver.setBootDevice({ device: 'network' });
    await driver.setPower('on');
    await driver.insertMedia('http://x/y.iso');
    assert.deepEqual(machine.calls, ['boot network once', 'power on', 'media insert']);
    assert.deepEqual(machine.boot, { device: 'network' });
    assert.equal(machine.media, 'http://x/y.iso');
  });

  it('a hung fake rejects with bmc_timeout when its call is aborted', async () => {
    const { driver } = createFakePowerDriver({ hang: true });
    // AbortSignal.timeout's timer is unref'd: with nothing else pending, the
    // event loop could empty before it fires and the test would be cancelled.
    // A plain (ref'd) timer keeps the process alive until the abort lands.
    const ac = new AbortController();
    const timer = setTimeout(() => ac.abort(), 20);
    const err = await driver.powerStatus({ signal: ac.signal }).catch((e: unknown) => e);
    clearTimeout(timer);
    assert.ok(hasCode(err, 'bmc_timeout'));
  });
});

import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { hasCode } from '../error/kiln-error.js';
import { enlistSystems } from './enlist-systems.js';
import { createBrokenPowerDriver, createFakePowerDriver } from './fake/fake-power-driver.js';
import { pollPowerState, runPowerPoller, type PowerDrift } from './poll-power-state.js';
import { createPowerQueue } from './power-queue.js';

describe('enlistSystems', () => {
  it('returns systems sorted by id with normalised MACs', async () => {
    const { driver } = createFakePowerDriver({
      systems: [
        { systemId: 'b', name: 'b', macs: ['52-54-00-00-00-02', '52:54:00:00:00:02'] },
        { systemId: 'a', name: 'a', macs: ['5254.0000.0001'], serial: 'S1' },
      ],
    });
    const got = await enlistSystems(driver);
    assert.deepEqual(
      got.map((s) => [s.systemId, s.macs, s.serial]),
      [
        ['a', ['52:54:00:00:00:01'], 'S1'],
        ['b', ['52:54:00:00:00:02'], undefined],
      ],
    );
  });
  it('refuses a driver that cannot enumerate', async () => {
    const { driver } = createFakePowerDriver({ capabilities: { enumerate: false } });
    await assert.rejects(enlistSystems(driver), (e) => hasCode(e, 'bmc_unsupported'));
  });
});

describe('pollPowerState', () => {
  const queue = () => createPowerQueue({ maxConcurrent: 2, timeoutMs: 500, onReport: () => {} });
  it('reports drift only for hosts whose state changed, and counts failures', async () => {
    const on = createFakePowerDriver({ initial: 'on' }).driver;
    const off = createFakePowerDriver({ initial: 'off' }).driver;
    const noStatus = createFakePowerDriver({ capabilities: { status: false } }).driver;
    const drifts: PowerDrift[] = [];
    const r = await pollPowerState(
      [
        { hostId: 'same', driver: on, known: 'on' },
        { hostId: 'drifted', driver: off, known: 'on' },
        { hostId: 'nostatus', driver: noStatus, known: 'on' },
        { hostId: 'broken', driver: createBrokenPowerDriver(), known: 'on' },
      ],
      { queue: queue(), onDrift: (d) => drifts.push(d) },
    );
    assert.deepEqual(drifts, [{ hostId: 'drifted', known: 'on', observed: 'off' }]);
    assert.deepEqual(r, { polled: 2, drifted: 1, failed: 1 });
  });
  it('runs rounds until aborted', async () => {
    const { driver, machine } = createFakePowerDriver({ initial: 'off' });
    const ac = new AbortController();
    let rounds = 0;
    await runPowerPoller({
      intervalMs: 5,
      signal: ac.signal,
      queue: queue(),
      onDrift: () => {},
      targets: () => {
        if (++rounds === 3) ac.abort();
        return [{ hostId: 'h', driver, known: 'off' }];
      },
    });
    assert.equal(rounds, 3);
    assert.equal(machine.calls.filter((c) => c === 'status').length, 3);
  });
});

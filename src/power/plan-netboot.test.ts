import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { hasCode } from '../error/kiln-error.js';
import { fakeCapabilities } from './fake/fake-power-driver.js';
import { networkBootOverride, planPowerOff, planPowerUp } from './plan-netboot.js';
import { noCapabilities, type PowerCapabilities } from './power-driver.js';

const caps = (c: Partial<PowerCapabilities>): PowerCapabilities => ({ ...noCapabilities, ...c });

describe('netboot plan', () => {
  it('prefers a one-time override, falls back to persistent, else none; UEFI follows the firmware', () => {
    assert.deepEqual(networkBootOverride(fakeCapabilities, 'uefi'), {
      device: 'network',
      persistent: false,
      uefi: true,
    });
    assert.deepEqual(networkBootOverride(fakeCapabilities, null), { device: 'network', persistent: false });
    assert.deepEqual(networkBootOverride(caps({ bootPersistent: ['network', 'disk'] }), 'bios'), {
      device: 'network',
      persistent: true,
      uefi: false,
    });
    assert.equal(networkBootOverride(caps({ powerActions: ['on'] }), 'uefi'), undefined);
  });
  it('cycles a running machine (or off+on), powers on a stopped or unknown one', () => {
    assert.deepEqual(planPowerUp('d', fakeCapabilities, 'on'), [{ kind: 'power', action: 'cycle' }]);
    assert.deepEqual(planPowerUp('d', caps({ powerActions: ['on', 'off'] }), 'on'), [
      { kind: 'power', action: 'off' },
      { kind: 'power', action: 'on' },
    ]);
    assert.deepEqual(planPowerUp('d', fakeCapabilities, 'off'), [{ kind: 'power', action: 'on' }]);
    assert.deepEqual(planPowerUp('wol', caps({ powerActions: ['on'] }), undefined), [{ kind: 'power', action: 'on' }]);
    assert.deepEqual(planPowerUp('hook', caps({ powerActions: ['cycle'] }), undefined), [
      { kind: 'power', action: 'cycle' },
    ]);
    assert.throws(
      () => planPowerUp('wol', caps({ powerActions: ['on'] }), 'on'),
      (e) => hasCode(e, 'bmc_unsupported'),
    );
    assert.throws(
      () => planPowerUp('none', caps({}), 'off'),
      (e) => hasCode(e, 'bmc_unsupported'),
    );
  });
  it('powers off hard, else soft, else refuses', () => {
    assert.deepEqual(planPowerOff('d', fakeCapabilities), { kind: 'power', action: 'off' });
    assert.deepEqual(planPowerOff('d', caps({ powerActions: ['soft-off'] })), { kind: 'power', action: 'soft-off' });
    assert.throws(
      () => planPowerOff('wol', caps({ powerActions: ['on'] })),
      (e) => hasCode(e, 'bmc_unsupported'),
    );
  });
});

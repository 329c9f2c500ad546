import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { hasCode } from '../../error/kiln-error.js';
import { bootPatch, parseRedfishPowerState, pickResetType } from './redfish-decide.js';

describe('pickResetType', () => {
  const mockup = [
    'On',
    'ForceOff',
    'GracefulShutdown',
    'GracefulRestart',
    'ForceRestart',
    'Nmi',
    'ForceOn',
    'PushPowerButton',
  ];
  const cases: Array<[string, Parameters<typeof pickResetType>[0], string[] | undefined, string | undefined]> = [
    ['on from mockup list', 'on', mockup, 'On'],
    ['cycle falls back to ForceRestart', 'cycle', mockup, 'ForceRestart'],
    ['cycle prefers PowerCycle', 'cycle', ['PowerCycle', 'ForceRestart'], 'PowerCycle'],
    ['on via ForceOn only', 'on', ['ForceOn', 'ForceOff'], 'ForceOn'],
    ['no list means the full schema set', 'soft-off', undefined, 'GracefulShutdown'],
    ['soft-off disallowed', 'soft-off', ['On', 'ForceOff'], undefined],
  ];
  for (const [name, action, allowed, want] of cases) {
    it(name, () => {
      if (want) assert.equal(pickResetType(action, allowed), want);
      else
        assert.throws(
          () => pickResetType(action, allowed),
          (e) => hasCode(e, 'bmc_unsupported'),
        );
    });
  }
});

describe('bootPatch', () => {
  const sys = {
    Boot: {
      BootSourceOverrideMode: 'UEFI',
      'BootSourceOverrideTarget@Redfish.AllowableValues': ['None', 'Pxe', 'Hdd'],
    },
  };
  it('one-time PXE keeps the firmware mode', () =>
    assert.deepEqual(bootPatch(sys, { device: 'network' }), {
      BootSourceOverrideTarget: 'Pxe',
      BootSourceOverrideEnabled: 'Once',
      BootSourceOverrideMode: 'UEFI',
    }));
  it('persistent disk in legacy mode', () =>
    assert.deepEqual(bootPatch(sys, { device: 'disk', persistent: true, uefi: false }), {
      BootSourceOverrideTarget: 'Hdd',
      BootSourceOverrideEnabled: 'Continuous',
      BootSourceOverrideMode: 'Legacy',
    }));
  it('HTTP boot not in the allowable list', () =>
    assert.throws(
      () => bootPatch(sys, { device: 'http' }),
      (e) => hasCode(e, 'bmc_unsupported'),
    ));
  it('HTTP boot forces UEFI', () =>
    assert.equal(bootPatch({ Boot: {} }, { device: 'http' }).BootSourceOverrideMode, 'UEFI'));
  it('no Boot object is a clear bmc_error', () =>
    assert.throws(
      () => bootPatch({}, { device: 'network' }),
      (e) => hasCode(e, 'bmc_error') && /no Boot object/.test((e as Error).message),
    ));
});

describe('parseRedfishPowerState', () => {
  for (const [p, want] of [
    ['On', 'on'],
    ['Off', 'off'],
    ['PoweringOn', 'off'],
    ['PoweringOff', 'on'],
    ['Weird', 'unknown'],
  ] as const) {
    it(p, () => assert.equal(parseRedfishPowerState({ PowerState: p }), want));
  }
  it('missing PowerState is a bmc_error', () =>
    assert.throws(
      () => parseRedfishPowerState({}),
      (e) => hasCode(e, 'bmc_error'),
    ));
});

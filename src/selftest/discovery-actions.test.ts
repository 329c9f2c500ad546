import assert from 'node:assert/strict';
import { test } from 'node:test';
import { effectiveDiscoveryActions } from './discovery-actions.js';

test('discovery actions: each setting from the rule when it sets it, else from the profile, else none and wait', () => {
  const profile = {
    name: 'debian-12',
    discovery: {
      selfTests: ['memory' as const],
      selfTestOptions: { memoryMiB: 4 },
      afterDiscovery: 'poweroff' as const,
    },
  };
  assert.deepEqual(effectiveDiscoveryActions(null, null), {
    tests: [],
    options: undefined,
    afterDiscovery: 'wait',
    testsBy: null,
    afterBy: null,
  });
  assert.deepEqual(effectiveDiscoveryActions({ name: 'r', assign: {} }, profile), {
    tests: ['memory'],
    options: { memoryMiB: 4 },
    afterDiscovery: 'poweroff',
    testsBy: 'profile:debian-12',
    afterBy: 'profile:debian-12',
  });
  // A rule's tests come with the rule's options (defaults when it gives none), not the profile's.
  assert.deepEqual(
    effectiveDiscoveryActions({ name: 'r', assign: { selfTests: ['nic-speed'], afterDiscovery: 'wait' } }, profile),
    { tests: ['nic-speed'], options: undefined, afterDiscovery: 'wait', testsBy: 'rule:r', afterBy: null },
  );
  // An empty list in the rule turns the profile's tests off; the rule's poweroff over a profile without one.
  assert.deepEqual(
    effectiveDiscoveryActions(
      { name: 'r', assign: { selfTests: [], afterDiscovery: 'poweroff' } },
      { name: 'p', discovery: { selfTests: ['memory'] } },
    ),
    { tests: [], options: undefined, afterDiscovery: 'poweroff', testsBy: null, afterBy: 'rule:r' },
  );
});

// The pure parts of the cluster storm checks: overlapping ACKs of one address, and the pause after a kill.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { addressesAckedTwice, pauseAfterKill } from './cluster-storm-check.js';
import type { MachineOutcome } from './fleet.js';

const machine = (mac: string, o: Partial<MachineOutcome>): MachineOutcome => ({
  index: 0,
  mac,
  firmware: 'bios',
  ok: true,
  retries: 0,
  retriedAt: [],
  bytes: 0,
  boots: 1,
  acks: [],
  progress: [],
  misses: [],
  ...o,
});

test('cluster storm check: an address ACKed to two MACs counts only while both hold it', () => {
  const a = machine('m:a', {
    acks: [
      { ip: '10.113.1.1', server: 's0', at: 100 },
      { ip: '10.113.1.2', server: 's1', at: 200 },
    ],
  });
  const later = machine('m:b', { acks: [{ ip: '10.113.1.1', server: 's1', at: 300 }] });
  assert.deepEqual(addressesAckedTwice([a, later]), [], 'a moved to .2 before b got .1');
  const overlapping = machine('m:c', { acks: [{ ip: '10.113.1.2', server: 's0', at: 250 }] });
  assert.deepEqual(addressesAckedTwice([a, overlapping]), ['10.113.1.2 (m:a, m:c)']);
});

test('cluster storm check: the pause runs from the kill to the next success after the first miss at the dead member', () => {
  const hit = machine('m:a', {
    misses: [
      { server: '10.112.0.1', at: 900, what: 'GET /boot/host.ipxe' },
      { server: '10.112.0.1', at: 1_050, what: 'GET /boot/kiln/x86_64/vmlinuz' },
    ],
    progress: [800, 1_300, 1_500],
  });
  const other = machine('m:b', { misses: [{ server: '10.112.1.1', at: 1_100, what: 'x' }], progress: [1_200] });
  const stuck = machine('m:c', { misses: [{ server: '10.112.0.1', at: 1_200, what: 'x' }], progress: [700] });
  assert.deepEqual(pauseAfterKill([hit, other, stuck], '10.112.0.1', 1_000), {
    affected: 2,
    resumed: 1,
    pausesMs: [300],
  });
});

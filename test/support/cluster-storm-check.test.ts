// The pure parts of the cluster storm checks: overlapping ACKs of one address, the pause after a kill, and the
// REQUESTs that named the killed member.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { addressesAckedTwice, pauseAfterKill, requestsToDead } from './cluster-storm-check.js';
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
      { ip: '10.113.1.1', server: 's0', at: 100, requestedAt: 90, from: 's0' },
      { ip: '10.113.1.2', server: 's1', at: 200, requestedAt: 150, from: 's1' },
    ],
  });
  const later = machine('m:b', { acks: [{ ip: '10.113.1.1', server: 's1', at: 300, requestedAt: 290, from: 's1' }] });
  assert.deepEqual(addressesAckedTwice([a, later]), [], 'a moved to .2 before b got .1');
  // a asked for .2 at 150: .1 was free in the store from a's commit on, before a saw its ACK at 200.
  const between = machine('m:d', { acks: [{ ip: '10.113.1.1', server: 's2', at: 170, requestedAt: 160, from: 's2' }] });
  assert.deepEqual(addressesAckedTwice([a, between]), [], 'b got .1 after a asked for .2');
  const before = machine('m:e', { acks: [{ ip: '10.113.1.1', server: 's2', at: 140, requestedAt: 130, from: 's2' }] });
  assert.deepEqual(addressesAckedTwice([a, before]).length, 1, 'b got .1 while a still held it');
  assert.match(addressesAckedTwice([a, before])[0]!, /^10\.113\.1\.1 \(m:a: .*\| m:e: 10\.113\.1\.1 from s2 at 40\)$/);
  const overlapping = machine('m:c', {
    acks: [{ ip: '10.113.1.2', server: 's0', at: 250, requestedAt: 240, from: 's0' }],
  });
  assert.deepEqual(addressesAckedTwice([a, overlapping]).length, 1, '.2 is held by a and c at once');
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

test('cluster storm check: REQUESTs naming the dead member, taken over by another or never answered, by stage', () => {
  const dead = '10.112.0.1';
  const a = machine('m:a', {
    acks: [
      { ip: '10.113.1.1', server: dead, at: 100, requestedAt: 90, from: '10.112.1.1' },
      { ip: '10.113.1.2', server: dead, at: 50, requestedAt: 40, from: dead },
      { ip: '10.113.1.3', server: '10.112.1.1', at: 200, requestedAt: 190, from: '10.112.1.1' },
    ],
    misses: [
      { server: dead, at: 95, what: 'iPXE DHCPREQUEST' },
      { server: dead, at: 96, what: 'firmware DHCPREQUEST' },
      { server: dead, at: 97, what: 'TFTP undionly.kpxe' },
      { server: '10.112.1.1', at: 98, what: 'iPXE DHCPREQUEST' },
    ],
  });
  assert.deepEqual(requestsToDead([a], dead), {
    takenOver: 1,
    unanswered: { firmware: 1, ipxe: 1 },
    samples: [
      { mac: 'm:a', firmware: 'bios', what: 'iPXE DHCPREQUEST', at: 95 },
      { mac: 'm:a', firmware: 'bios', what: 'firmware DHCPREQUEST', at: 96 },
    ],
  });
});

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { readPcapUdp } from './reader.js';

test('reads the UDP datagrams of a real tcpdump capture (Ethernet link type)', () => {
  const file = new Uint8Array(readFileSync(new URL('../dhcp4/testdata/ipxe-bios.pcap', import.meta.url)));
  const ds = readPcapUdp(file);
  assert.ok(ds.length >= 4);
  assert.deepEqual([ds[0].src, ds[0].srcPort, ds[0].dst, ds[0].dstPort], ['0.0.0.0', 68, '255.255.255.255', 67]);
  // The DHCP magic cookie sits at byte 236 of every payload.
  for (const d of ds) assert.deepEqual(Array.from(d.payload.subarray(236, 240)), [99, 130, 83, 99]);
});

test('rejects a file that is not classic pcap', () => {
  assert.throws(() => readPcapUdp(new Uint8Array(24)), /bad magic/);
  assert.throws(() => readPcapUdp(new Uint8Array(3)), /shorter/);
});

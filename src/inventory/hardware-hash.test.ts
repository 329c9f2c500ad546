import assert from 'node:assert/strict';
import { test } from 'node:test';
import { formatHardwareDiff, hardwareDiff, hardwareHash } from './hardware-hash.js';

const facts = () => ({
  bootMac: '52:54:00:12:34:56',
  firmware: 'bios',
  cpu: { model: 'QEMU Virtual CPU', count: 2 },
  memory: { totalBytes: 790_000_000, installedBytes: 805_306_368 },
  nics: [{ name: 'eth0', mac: '52:54:00:12:34:56', driver: 'virtio_net', link: 'up', speedMbps: 1000 }],
  disks: [{ name: 'vda', sizeBytes: 2147483648, model: '', serial: 'disk-1', rotational: true, removable: false }],
  pci: [{ slot: '0000:00:03.0', vendor: '1af4', device: '1000', class: '020000', driver: 'virtio-pci' }],
  dmi: { vendor: 'QEMU', product: 'Standard PC', serial: '', uuid: 'abc' },
  bmc: { present: false, ipAddress: '', macAddress: '' },
  lldp: null,
});

test('the hash ignores link state, speed, order, BMC address and LLDP', () => {
  const a = facts();
  const b = facts();
  b.nics[0].link = 'down';
  b.nics[0].speedMbps = 10;
  b.bmc.ipAddress = '10.0.0.9';
  (b as Record<string, unknown>)['lldp'] = { chassis: 'sw1' };
  b.memory.totalBytes = 790_100_000;
  assert.equal(hardwareHash(a), hardwareHash(b));
  assert.match(hardwareHash(a), /^sha256:[0-9a-f]{16}$/);
});

test('the hash changes with a disk, memory or NIC change, and the diff names it side by side', () => {
  const a = facts();
  const b = facts();
  b.disks[0].sizeBytes = 4294967296;
  b.memory.installedBytes = 1_073_741_824;
  b.nics.push({ name: 'eth1', mac: '52:54:00:12:34:57', driver: 'e1000', link: 'up', speedMbps: 1000 });
  assert.notEqual(hardwareHash(a), hardwareHash(b));
  assert.deepEqual(hardwareDiff(a, b), [
    { part: 'disk disk-1', before: '2147483648 bytes rotational', after: '4294967296 bytes rotational' },
    { part: 'memory', before: '805306368', after: '1073741824' },
    { part: 'nic 52:54:00:12:34:57', before: '', after: 'e1000' },
  ]);
  assert.equal(
    formatHardwareDiff(hardwareDiff(a, b)).split('\n')[0],
    'PART                   BEFORE                       AFTER',
  );
});

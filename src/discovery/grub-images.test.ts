import { test } from 'node:test';
import assert from 'node:assert/strict';
import { patchBiosGrub } from './grub-images.js';
import { kernelPackageFromDepends } from './debian-package.js';

function fakeCore(sectors: number): Uint8Array {
  const core = new Uint8Array(sectors * 512 - 100);
  const dv = new DataView(core.buffer);
  dv.setBigUint64(500, 2n, true);
  dv.setUint16(508, sectors - 1, true);
  dv.setUint16(510, 0x820, true);
  return core;
}

test('patchBiosGrub points boot.img at core.img and the blocklist at the sector after', () => {
  const boot = new Uint8Array(512).fill(0xaa);
  const { boot: b, core: c } = patchBiosGrub(boot, fakeCore(293), 2048);
  assert.equal(new DataView(b.buffer).getBigUint64(0x5c, true), 2048n);
  assert.equal(b[0x5b], 0xaa);
  assert.equal(b[0x64], 0xaa, 'bytes around the field are untouched');
  const dv = new DataView(c.buffer);
  assert.equal(dv.getBigUint64(500, true), 2049n);
  assert.equal(dv.getUint16(508, true), 292);
  assert.equal(dv.getUint16(510, true), 0x820);
  assert.equal(boot[0x5c], 0xaa, 'inputs are not modified');
});

test('patchBiosGrub rejects a blocklist that does not cover the image', () => {
  const core = fakeCore(10);
  new DataView(core.buffer).setUint16(508, 3, true);
  assert.throws(() => patchBiosGrub(new Uint8Array(512), core, 2048), RangeError);
  assert.throws(() => patchBiosGrub(new Uint8Array(440), fakeCore(10), 2048), RangeError);
});

test('kernelPackageFromDepends reads apt-cache depends output', () => {
  assert.equal(
    kernelPackageFromDepends('linux-image-amd64\n  Depends: linux-image-6.1.0-56-amd64\n'),
    'linux-image-6.1.0-56-amd64',
  );
  assert.equal(kernelPackageFromDepends('foo\n  Depends: bar\n'), undefined);
});

import assert from 'node:assert/strict';
import { test } from 'node:test';
import { parseAptUris } from './fetch-verified.js';
import { installOfFile } from './sync-repo.js';
import { indexEntries, kernelAbis, selectUdebs, udebKernelAbi, udebProblems } from './udebs.js';

const stanza = (name: string, priority = 'standard') =>
  `Package: ${name}\nVersion: 1\nArchitecture: amd64\nPriority: ${priority}\nSection: debian-installer\nFilename: pool/${name}.udeb\nSize: 10\n`;
// Names as bookworm's main/debian-installer index carries them (two kernel ABIs: the mirror is newer than the initrd).
const index = [
  'kernel-image-6.1.0-47-amd64-di',
  'kernel-image-6.1.0-50-amd64-di',
  'ext4-modules-6.1.0-47-amd64-di',
  'ext4-modules-6.1.0-50-amd64-di',
  'partman-ext3',
  'grub-installer',
].map((n) => stanza(n));

test('a udeb names its kernel ABI; ABI-less udebs have none', () => {
  assert.equal(udebKernelAbi('ext4-modules-6.1.0-50-amd64-di'), '6.1.0-50-amd64');
  assert.equal(udebKernelAbi('kernel-image-6.1.0-50-arm64-di'), '6.1.0-50-arm64');
  assert.equal(udebKernelAbi('partman-ext3'), null);
  assert.equal(udebKernelAbi('libc6-udeb'), null);
});

test("the subset takes every udeb for the initrd's ABI and every ABI-less one, none of another ABI", () => {
  const e = indexEntries(index.join('\n'));
  assert.equal(e.length, 6);
  assert.deepEqual(e[0], {
    name: 'kernel-image-6.1.0-47-amd64-di',
    version: '1',
    arch: 'amd64',
    priority: 'standard',
    section: 'debian-installer',
    filename: 'pool/kernel-image-6.1.0-47-amd64-di.udeb',
    size: 10,
  });
  assert.deepEqual(
    selectUdebs(e, '6.1.0-50-amd64').map((x) => x.name),
    ['kernel-image-6.1.0-50-amd64-di', 'ext4-modules-6.1.0-50-amd64-di', 'partman-ext3', 'grub-installer'],
  );
  assert.deepEqual(kernelAbis(e), ['6.1.0-47-amd64', '6.1.0-50-amd64']);
});

test('the check: a kernel ABI other than the initrd’s is refused; wanted udebs not published are named', () => {
  const published = selectUdebs(indexEntries(index.join('\n')), '6.1.0-47-amd64');
  assert.deepEqual(udebProblems(published, '6.1.0-47-amd64', ['partman-ext3']), { missing: [], problems: [] });
  const r = udebProblems(published, '6.1.0-50-amd64', ['partman-ext3', 'finish-install', 'anna']);
  assert.deepEqual(r.missing, ['anna', 'finish-install']);
  assert.deepEqual(r.problems, [
    "kernel ABI mismatch: the netboot initrd is 6.1.0-50-amd64, the subset's udebs carry 6.1.0-47-amd64",
  ]);
  assert.match(udebProblems([], '6.1.0-50-amd64', []).problems[0]!, /carry no kernel$/);
});

test("apt's --print-uris lines, and a file name back to its package (epoch as %3a)", () => {
  const text = [
    "'http://deb.example/debian/pool/main/a/apt-setup/apt-setup-udeb_0.182_amd64.udeb' apt-setup-udeb_1%3a0.182_amd64.udeb 78400 SHA256:794f8a8e94c14a45fd429d0df8a18ef3edcbe48c44e881aadbc7a1a3b01ea2a5",
    'Reading package lists...',
  ].join('\n');
  assert.deepEqual(parseAptUris(text), [
    {
      url: 'http://deb.example/debian/pool/main/a/apt-setup/apt-setup-udeb_0.182_amd64.udeb',
      file: 'apt-setup-udeb_1%3a0.182_amd64.udeb',
      size: 78400,
      hash: { algo: 'sha256', hex: '794f8a8e94c14a45fd429d0df8a18ef3edcbe48c44e881aadbc7a1a3b01ea2a5' },
    },
  ]);
  assert.equal(parseAptUris(`'http://x/a.udeb' a_1_amd64.udeb 5 SHA512:${'ab'.repeat(64)}`)[0]?.hash.algo, 'sha512');
  assert.deepEqual(parseAptUris(`'http://x/a.udeb' a_1_amd64.udeb 5 SHA256:${'ab'.repeat(64)}`), [], 'a wrong length');
  assert.deepEqual(installOfFile('apt-setup-udeb_1%3a0.182_amd64.udeb'), {
    name: 'apt-setup-udeb',
    version: '1:0.182',
    arch: 'amd64',
  });
  assert.deepEqual(installOfFile('hello_2.10-3_amd64.deb'), { name: 'hello', version: '2.10-3', arch: 'amd64' });
});

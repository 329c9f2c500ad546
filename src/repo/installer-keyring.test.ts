import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { gunzipSync, gzipSync } from 'node:zlib';
import { encodeCpioNewc } from '../discovery/cpio-newc.js';
import { DI_KEYRING_PATH, initrdKernelAbi, installerKeyringCpio } from './installer-keyring.js';

test("the appended archive holds the keyring where d-i's net-retriever runs gpgv (usr/share/keyrings/archive.gpg)", () => {
  // net-retriever: keyring=/usr/share/keyrings/archive.gpg; gpgv --keyring "$keyring" Release.gpg Release.
  assert.equal(DI_KEYRING_PATH, 'usr/share/keyrings/archive.gpg');
  const keyring = new Uint8Array([0x99, 0x00, 0x33, 1, 2, 3, 4, 5]);
  const cpio = installerKeyringCpio(keyring);
  // GNU cpio reads it back (the kernel gets it as a gzip member of its own, appended to Debian's initrd.gz).
  const dir = mkdtempSync(join(tmpdir(), 'kiln-di-keyring-'));
  const plain = gunzipSync(gzipSync(cpio));
  const list = execFileSync('cpio', ['-t', '--quiet'], { input: plain }).toString().trim().split('\n');
  assert.deepEqual(list, ['usr', 'usr/share', 'usr/share/keyrings', 'usr/share/keyrings/archive.gpg']);
  execFileSync('cpio', ['-id', '--quiet'], { input: plain, cwd: dir });
  assert.deepEqual(new Uint8Array(readFileSync(join(dir, DI_KEYRING_PATH))), keyring);
  assert.equal(statSync(join(dir, DI_KEYRING_PATH)).mode & 0o777, 0o644);
});

test('the kernel ABI of an initrd: the lib/modules/<abi> directory of its cpio archive', () => {
  const data = new Uint8Array(5);
  const cpio = encodeCpioNewc([
    { kind: 'dir', path: 'lib', mode: 0o755 },
    { kind: 'file', path: 'lib/odd', mode: 0o644, data },
    { kind: 'dir', path: 'lib/modules', mode: 0o755 },
    { kind: 'dir', path: 'lib/modules/6.1.0-50-amd64', mode: 0o755 },
  ]);
  assert.equal(initrdKernelAbi(cpio), '6.1.0-50-amd64');
  assert.equal(initrdKernelAbi(installerKeyringCpio(data)), null);
  assert.equal(initrdKernelAbi(new Uint8Array(3)), null);
});

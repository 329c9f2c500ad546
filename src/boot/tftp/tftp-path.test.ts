import { test } from 'node:test';
import assert from 'node:assert/strict';
import { resolveTftpPath, type TftpPathResult } from './tftp-path.js';

test('normalizes request names into root-relative paths (table)', () => {
  const cases: Array<[string, string, TftpPathResult]> = [
    ['plain', 'pxelinux.0', { ok: true, path: 'pxelinux.0' }],
    ['leading slash means the root', '/boot/vmlinuz', { ok: true, path: 'boot/vmlinuz' }],
    ['absolute system path stays under the root', '/etc/passwd', { ok: true, path: 'etc/passwd' }],
    ['backslashes are separators', 'boot\\pxeboot.n12', { ok: true, path: 'boot/pxeboot.n12' }],
    ['dot and empty segments dropped', './a//b/./c', { ok: true, path: 'a/b/c' }],
    ['dot-dot refused', '../etc/passwd', { ok: false, reason: 'path "../etc/passwd" contains ".."' }],
    ['inner dot-dot refused', 'a/../../b', { ok: false, reason: 'path "a/../../b" contains ".."' }],
    ['backslash dot-dot refused', '..\\x', { ok: false, reason: 'path "..\\x" contains ".."' }],
    ['empty refused', '/', { ok: false, reason: 'empty path' }],
    ['UTF-8 bytes read as UTF-8', '\u00c3\u00a9.txt', { ok: true, path: 'é.txt' }],
  ];
  for (const [name, wire, want] of cases) assert.deepEqual(resolveTftpPath(wire), want, name);
});

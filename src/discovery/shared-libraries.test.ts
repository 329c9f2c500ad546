import { test } from 'node:test';
import assert from 'node:assert/strict';
import { parseLddOutput } from './shared-libraries.js';

test('parseLddOutput lists resolved libraries and the loader, skips the vDSO', () => {
  const text = `\tlinux-vdso.so.1 (0x00007ffd)
\tlibfdisk.so.1 => /lib/x86_64-linux-gnu/libfdisk.so.1 (0x00007f)
\tlibc.so.6 => /lib/x86_64-linux-gnu/libc.so.6 (0x00007f)
\t/lib64/ld-linux-x86-64.so.2 (0x00007f)
`;
  assert.deepEqual(parseLddOutput(text), [
    '/lib/x86_64-linux-gnu/libfdisk.so.1',
    '/lib/x86_64-linux-gnu/libc.so.6',
    '/lib64/ld-linux-x86-64.so.2',
  ]);
});

test('static binaries have no libraries; a missing library throws', () => {
  assert.deepEqual(parseLddOutput('\tstatically linked\n'), []);
  assert.throws(() => parseLddOutput('\tlibfoo.so.1 => not found\n'), /libfoo/);
});

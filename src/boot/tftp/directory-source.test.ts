import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, mkdirSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createDirectorySource } from './directory-source.js';

const client = { address: '127.0.0.1', port: 1 };

test('directory source: reads files inside the root, refuses symlinks out of it', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'kiln-tftp-src-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  const root = join(dir, 'root');
  mkdirSync(join(root, 'sub'), { recursive: true });
  writeFileSync(join(root, 'sub', 'a.txt'), 'hello world');
  writeFileSync(join(dir, 'secret'), 'secret');
  symlinkSync(join(dir, 'secret'), join(root, 'escape'));
  symlinkSync('sub/a.txt', join(root, 'inner-link'));
  symlinkSync(dir, join(root, 'updir'));
  const source = await createDirectorySource(root);

  const ok = await source('sub/a.txt', client);
  assert.ok('file' in ok);
  assert.equal(ok.file.size, 11);
  assert.equal(new TextDecoder().decode(await ok.file.read(6, 100)), 'world');
  await ok.file.close();

  const inner = await source('inner-link', client);
  assert.ok('file' in inner, 'a symlink that stays inside the root is served');
  await inner.file.close();

  assert.deepEqual(await source('escape', client), {
    error: 'access_violation',
    reason: 'escape: resolves outside the served root',
  });
  assert.deepEqual(await source('updir/secret', client), {
    error: 'access_violation',
    reason: 'updir/secret: resolves outside the served root',
  });
  assert.deepEqual(await source('nope', client), { error: 'not_found', reason: 'nope: no such file' });
  assert.deepEqual(await source('sub', client), { error: 'not_found', reason: 'sub: not a regular file' });
});

test('directory source: a named boot file is served even as a symlink out of the root (Debian: ipxe.efi -> /boot/ipxe.efi)', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'kiln-tftp-src-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  const root = join(dir, 'root');
  mkdirSync(root);
  writeFileSync(join(dir, 'ipxe.efi'), 'efi binary');
  writeFileSync(join(dir, 'secret'), 'secret');
  symlinkSync(join(dir, 'ipxe.efi'), join(root, 'ipxe.efi'));
  symlinkSync(join(dir, 'secret'), join(root, 'escape'));
  symlinkSync(dir, join(root, 'updir'));
  const source = await createDirectorySource(root, { bootFiles: ['ipxe.efi', 'undionly.kpxe'] });

  const efi = await source('ipxe.efi', client);
  assert.ok('file' in efi, 'the named boot file is served through its symlink');
  assert.equal(efi.file.size, 10);
  await efi.file.close();
  // Only the exact names: other links out of the root stay refused, also when they reach the same file.
  assert.deepEqual(await source('escape', client), {
    error: 'access_violation',
    reason: 'escape: resolves outside the served root',
  });
  assert.deepEqual(await source('updir/ipxe.efi', client), {
    error: 'access_violation',
    reason: 'updir/ipxe.efi: resolves outside the served root',
  });
  assert.deepEqual(await source('undionly.kpxe', client), {
    error: 'not_found',
    reason: 'undionly.kpxe: no such file',
  });
});

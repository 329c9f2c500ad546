import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, readlinkSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { encodeCpioNewc } from './cpio-newc.js';

test('newc header layout: magic, hex fields, name padding, trailer', () => {
  const out = encodeCpioNewc([{ kind: 'file', path: 'a', mode: 0o644, data: new TextEncoder().encode('hi') }]);
  const text = new TextDecoder('latin1').decode(out);
  assert.equal(text.slice(0, 6), '070701');
  assert.equal(text.slice(6, 14), '00000001', 'ino');
  assert.equal(text.slice(14, 22), (0o100644).toString(16).padStart(8, '0'), 'mode');
  assert.equal(text.slice(54, 62), '00000002', 'filesize');
  assert.equal(text.slice(94, 102), '00000002', 'namesize includes NUL');
  // 110 header + 2 name = 112 (aligned), data at 112
  assert.equal(text.slice(112, 114), 'hi');
  assert.ok(text.includes('TRAILER!!!\0'));
  assert.equal(out.length % 4, 0);
});

test('encoding is deterministic and rejects absolute paths', () => {
  const entries = [{ kind: 'dir' as const, path: 'x', mode: 0o755 }];
  assert.deepEqual(encodeCpioNewc(entries), encodeCpioNewc(entries));
  assert.throws(() => encodeCpioNewc([{ kind: 'dir', path: '/x', mode: 0o755 }]), RangeError);
});

test('GNU cpio unpacks what we write: files, modes, dirs, symlinks, odd sizes', () => {
  const dir = mkdtempSync(join(tmpdir(), 'kiln-cpio-'));
  try {
    const data = new Uint8Array(1001).map((_, i) => i % 251);
    const archive = encodeCpioNewc([
      { kind: 'dir', path: 'bin', mode: 0o755 },
      { kind: 'file', path: 'bin/tool', mode: 0o750, data },
      { kind: 'file', path: 'empty', mode: 0o600, data: new Uint8Array(0) },
      { kind: 'symlink', path: 'bin/sh', target: 'tool' },
      { kind: 'file', path: 'name-of-odd-length.txt', mode: 0o644, data: new TextEncoder().encode('abc') },
    ]);
    writeFileSync(join(dir, 'a.cpio'), archive);
    const listing = execFileSync('cpio', ['-t', '--quiet', '-F', join(dir, 'a.cpio')], { encoding: 'utf8' });
    assert.deepEqual(listing.trim().split('\n'), ['bin', 'bin/tool', 'empty', 'bin/sh', 'name-of-odd-length.txt']);
    execFileSync('cpio', ['-i', '-d', '--quiet', '--no-absolute-filenames', '-F', join(dir, 'a.cpio')], {
      cwd: join(dir),
    });
    assert.deepEqual(new Uint8Array(readFileSync(join(dir, 'bin/tool'))), data);
    assert.equal(statSync(join(dir, 'bin/tool')).mode & 0o777, 0o750);
    assert.equal(readlinkSync(join(dir, 'bin/sh')), 'tool');
    assert.equal(readFileSync(join(dir, 'name-of-odd-length.txt'), 'utf8'), 'abc');
    assert.equal(statSync(join(dir, 'empty')).size, 0);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

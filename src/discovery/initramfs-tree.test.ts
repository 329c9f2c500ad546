import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { collectTreeEntries } from './initramfs-tree.js';

test('collectTreeEntries lists a tree parents-first and adds dev/console', () => {
  const dir = mkdtempSync(join(tmpdir(), 'kiln-tree-'));
  try {
    mkdirSync(join(dir, 'bin'));
    writeFileSync(join(dir, 'bin/busybox'), 'x', { mode: 0o755 });
    symlinkSync('busybox', join(dir, 'bin/sh'));
    writeFileSync(join(dir, 'init'), '#!/bin/sh\n', { mode: 0o755 });
    const entries = collectTreeEntries(dir);
    assert.deepEqual(
      entries.map((e) => `${e.kind}:${e.path}`),
      ['dir:bin', 'file:bin/busybox', 'symlink:bin/sh', 'file:init', 'dir:dev', 'chardev:dev/console'],
    );
    const console = entries.at(-1);
    assert.deepEqual(console, { kind: 'chardev', path: 'dev/console', mode: 0o600, major: 5, minor: 1 });
    const init = entries.find((e) => e.path === 'init');
    assert.equal(init?.kind === 'file' && init.mode, 0o755);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

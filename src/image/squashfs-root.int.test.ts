// The squashfs root of a stateless image, built with the real GNU tar and
// mksquashfs (squashfs-tools) from an image tarball: its content, the cache
// (no second build), one build for concurrent callers, and serving with HEAD
// and Range like every image file.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createTestController } from '../../test/support/controller.js';
import { createImageStore } from './image-store.js';
import { createSquashfsRoots } from './squashfs-root.js';

test('an image tarball becomes a content-addressed squashfs, built once, served with HEAD and Range', async (t) => {
  const work = mkdtempSync(join(tmpdir(), 'kiln-squashfs-'));
  t.after(() => rmSync(work, { recursive: true, force: true }));
  const tree = join(work, 'tree');
  mkdirSync(join(tree, 'etc'), { recursive: true });
  mkdirSync(join(tree, 'sbin'));
  writeFileSync(join(tree, 'etc/hostname'), 'img\n');
  writeFileSync(join(tree, 'sbin/init'), '#!/bin/sh\n', { mode: 0o755 });
  const tar = join(work, 'img.tar.gz');
  execFileSync('tar', ['-C', tree, '--owner=0', '--group=0', '-czf', tar, '.']);
  const imagesDir = join(work, 'images');
  const image = await createImageStore(imagesDir).add('img', tar);

  const roots = createSquashfsRoots({ imagesDir });
  const [a, b] = await Promise.all([roots.ensure(image), roots.ensure(image)]);
  assert.deepEqual(a, b, 'concurrent callers share one build');
  assert.match(a.file, /^squashfs\/[0-9a-f]{64}\.squashfs$/);
  assert.equal(a.file, `squashfs/${a.sha256}.squashfs`);
  const path = join(imagesDir, a.file);
  const listing = execFileSync('unsquashfs', ['-lln', path], { encoding: 'utf8' });
  assert.match(listing, /-rwxr-xr-x 0\/0 +\d+ \S+ \S+ squashfs-root\/sbin\/init/);
  assert.match(listing, /squashfs-root\/etc\/hostname/);
  const built = statSync(path).mtimeMs;
  const again = await createSquashfsRoots({ imagesDir }).ensure(image);
  assert.deepEqual(again, a, 'a new builder finds the cached one');
  assert.equal(statSync(path).mtimeMs, built, 'not built again');

  const c = await createTestController({ boot: { imagesDir } });
  t.after(() => c.close());
  const head = await c.app.inject({ method: 'HEAD', url: `/images/${a.file}` });
  assert.equal(head.statusCode, 200);
  assert.equal(Number(head.headers['content-length']), a.sizeBytes);
  const range = await c.app.inject({ method: 'GET', url: `/images/${a.file}`, headers: { range: 'bytes=0-3' } });
  assert.equal(range.statusCode, 206);
  assert.equal(range.rawPayload.toString('latin1'), 'hsqs', 'the squashfs magic');
});

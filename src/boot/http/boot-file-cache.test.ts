import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, statSync, writeFileSync, utimesSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createBootFileCache } from './boot-file-cache.js';

function scratch(t: { after(fn: () => void): void }): string {
  const dir = mkdtempSync(join(tmpdir(), 'kiln-boot-cache-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  return dir;
}

test('boot file cache: a hit is the same buffer; a changed file is read again', async (t) => {
  const dir = scratch(t);
  const f = join(dir, 'vmlinuz');
  writeFileSync(f, 'kernel-1');
  const cache = createBootFileCache(1 << 20);
  const a = await cache.get(f, statSync(f));
  const b = await cache.get(f, statSync(f));
  assert.equal(a?.toString(), 'kernel-1');
  assert.equal(a, b);
  assert.deepEqual(
    { hits: cache.stats.hits, misses: cache.stats.misses, entries: cache.stats.entries, bytes: cache.stats.bytes },
    { hits: 1, misses: 1, entries: 1, bytes: 8 },
  );
  writeFileSync(f, 'kernel-2 longer');
  utimesSync(f, new Date(), new Date(Date.now() + 5000)); // a new mtime even on a coarse clock
  const c = await cache.get(f, statSync(f));
  assert.equal(c?.toString(), 'kernel-2 longer');
  assert.equal(cache.stats.entries, 1);
  assert.equal(cache.stats.bytes, 15);
});

test('boot file cache: least recently used out first, never over budget; too big is not cached', async (t) => {
  const dir = scratch(t);
  for (const n of ['a', 'b', 'c']) writeFileSync(join(dir, n), Buffer.alloc(400, n));
  writeFileSync(join(dir, 'huge'), Buffer.alloc(1001));
  const cache = createBootFileCache(1000);
  const get = (n: string) => cache.get(join(dir, n), statSync(join(dir, n)));
  await get('a');
  await get('b');
  await get('a'); // a is now the most recent
  await get('c'); // evicts b
  assert.equal(cache.stats.entries, 2);
  assert.ok(cache.stats.bytes <= 1000);
  const hitsBefore = cache.stats.hits;
  await get('a');
  assert.equal(cache.stats.hits, hitsBefore + 1, 'a stayed');
  await get('b');
  assert.equal(cache.stats.hits, hitsBefore + 1, 'b was evicted and read again');
  assert.equal(await get('huge'), null);
  assert.ok(cache.stats.bytes <= 1000);
  assert.equal(await cache.get(dir, statSync(dir)), null, 'a directory is not a file');
});

test('boot file cache: concurrent misses share one read; budget 0 caches nothing', async (t) => {
  const dir = scratch(t);
  const f = join(dir, 'initrd.img');
  writeFileSync(f, Buffer.alloc(64 * 1024, 7));
  const cache = createBootFileCache(1 << 20);
  const all = await Promise.all(Array.from({ length: 20 }, () => cache.get(f, statSync(f))));
  assert.ok(all.every((b) => b === all[0] && b!.length === 64 * 1024));
  assert.equal(cache.stats.entries, 1);
  const off = createBootFileCache(0);
  assert.equal(await off.get(f, statSync(f)), null);
  assert.equal(off.stats.entries, 0);
});

import assert from 'node:assert/strict';
import { lstatSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, test } from 'node:test';
import { swapArchive } from './publish-repo.js';
import { repoLayout } from './repo-layout.js';

const work = mkdtempSync(join(tmpdir(), 'kiln-swap-'));
after(() => rmSync(work, { recursive: true, force: true }));

/** A built tree beside the live one, its Release saying `text`. */
function built(publicDir: string, name: string, text: string): string {
  const dir = join(publicDir, name);
  mkdirSync(join(dir, 'dists/x'), { recursive: true });
  writeFileSync(join(dir, 'dists/x/Release'), text);
  return dir;
}

test('a tree published as a directory before is moved aside once; then debian is a link to the live tree', async () => {
  const layout = repoLayout(join(work, 'legacy'));
  mkdirSync(join(layout.archiveDir, 'dists/x'), { recursive: true });
  writeFileSync(join(layout.archiveDir, 'dists/x/Release'), 'old');
  await swapArchive(layout, built(layout.publicDir, '.debian.new', 'new'));
  assert.ok(lstatSync(layout.archiveDir).isSymbolicLink());
  assert.equal(readFileSync(join(layout.archiveDir, 'dists/x/Release'), 'utf8'), 'new');
  assert.deepEqual(
    readdirSync(layout.publicDir).map((n) => n.replace(/[0-9a-f]{8}$/, '*')),
    ['debian', 'debian-tree-*'],
    'the old directory and the build are gone',
  );
});

test('a reader never finds the archive missing while trees are swapped in, and only the live tree stays', async () => {
  const layout = repoLayout(join(work, 'swaps'));
  mkdirSync(layout.publicDir, { recursive: true });
  await swapArchive(layout, built(layout.publicDir, '.debian.new', 'v0'));
  let reading = true;
  let reads = 0;
  const misses: string[] = [];
  const reader = (async () => {
    for (let i = 0; reading && i < 1_000_000; i++) {
      const text = await readFile(join(layout.archiveDir, 'dists/x/Release'), 'utf8').catch(
        (err: NodeJS.ErrnoException) => `missing: ${err.code}`,
      );
      reads += 1;
      if (!/^v\d+$/.test(text)) misses.push(text);
    }
  })();
  for (let v = 1; v <= 30; v++) await swapArchive(layout, built(layout.publicDir, `.debian.peer-${v}`, `v${v}`));
  reading = false;
  await reader;
  assert.ok(reads > 0);
  assert.deepEqual(misses, [], `${misses.length} of ${reads} reads found no archive`);
  assert.equal(readFileSync(join(layout.archiveDir, 'dists/x/Release'), 'utf8'), 'v30');
  assert.equal(readdirSync(layout.publicDir).filter((n) => n.startsWith('debian-tree-')).length, 1);
});

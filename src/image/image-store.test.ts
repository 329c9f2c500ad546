// Image names come from profile variables (an operator's deploy variables or
// host labels): a name is looked up in the store, never used as a path.
import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { createImageStore } from './image-store.js';

describe('image store names', () => {
  it('an image name that walks out of the store finds nothing, even when the file it names exists', () => {
    const root = mkdtempSync(join(tmpdir(), 'kiln-images-'));
    try {
      const dir = join(root, 'images');
      mkdirSync(dir);
      const planted = {
        name: 'x',
        file: '../../etc/shadow',
        sha256: '0'.repeat(64),
        format: 'tar.gz',
        sizeBytes: 1,
        addedAt: '',
      };
      writeFileSync(join(root, 'outside.json'), JSON.stringify(planted));
      mkdirSync(join(root, 'sub'));
      writeFileSync(join(root, 'sub', 'deep.json'), JSON.stringify(planted));
      const store = createImageStore(dir);
      for (const name of [
        '../outside',
        '..%2foutside',
        '../sub/deep',
        `${root}/outside`,
        '.hidden',
        'a/../../outside',
        '..\\outside',
        '',
      ]) {
        assert.equal(store.get(name), null, name);
      }
    } finally {
      rmSync(root, { recursive: true, force: true });
    }
  });
});

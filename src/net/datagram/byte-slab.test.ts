import assert from 'node:assert/strict';
import { test } from 'node:test';
import { createByteSlab } from './byte-slab.js';

test('byte slab: zero-filled views of the asked size, never overlapping, a new block when one is full', () => {
  const alloc = createByteSlab(1000);
  const a = alloc(300);
  const b = alloc(300);
  const c = alloc(300);
  const d = alloc(300); // 1 200 > 1 000: a new block
  assert.deepEqual(
    [a, b, c, d].map((v) => v.length),
    [300, 300, 300, 300],
  );
  for (const v of [a, b, c, d]) assert.ok(v.every((x) => x === 0));
  a.fill(1);
  b.fill(2);
  c.fill(3);
  d.fill(4);
  // Each view kept its own bytes: none was handed out twice.
  assert.ok(a.every((x) => x === 1) && b.every((x) => x === 2) && c.every((x) => x === 3));
  assert.equal(a.buffer, b.buffer);
  assert.notEqual(d.buffer, a.buffer);
  // Larger than a block: a buffer of its own.
  assert.equal(alloc(5000).length, 5000);
});

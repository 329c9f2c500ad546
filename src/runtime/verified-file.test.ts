import assert from 'node:assert/strict';
import { createHash, randomBytes } from 'node:crypto';
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { keepVerifiedFile } from './verified-file.js';

async function* chunksOf(b: Uint8Array, size = 1000): AsyncIterable<Uint8Array> {
  for (let i = 0; i < b.length; i += size) yield b.subarray(i, i + size);
}

test('a verified file is kept only when its size and SHA-256 match; otherwise nothing is left behind', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'kiln-verified-'));
  try {
    const bytes = randomBytes(10_000);
    const want = {
      final: join(dir, 'f.bin'),
      tmp: join(dir, 'f.bin.tmp'),
      size: bytes.length,
      sha256: createHash('sha256').update(bytes).digest('hex'),
      what: 'test file',
    };
    // One byte changed, same length: refused.
    const altered = Buffer.from(bytes);
    altered[5000] ^= 1;
    await assert.rejects(keepVerifiedFile(chunksOf(altered), want), /test file: 10000 bytes hashing to [0-9a-f]{64}/);
    // Longer than the record: refused once past it.
    await assert.rejects(
      keepVerifiedFile(chunksOf(Buffer.concat([bytes, bytes])), want),
      /test file: over 10000 bytes/,
    );
    // Shorter: refused.
    await assert.rejects(keepVerifiedFile(chunksOf(bytes.subarray(1)), want), /9999 bytes hashing to/);
    assert.deepEqual(readdirSync(dir), []);
    await keepVerifiedFile(chunksOf(bytes), want);
    assert.deepEqual(readdirSync(dir), ['f.bin']);
    assert.ok(readFileSync(want.final).equals(bytes));
    assert.equal(existsSync(want.tmp), false);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

import assert from 'node:assert/strict';
import { mkdtempSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { hasCode } from '../error/kiln-error.js';
import { createSecretBox, loadSecretBox } from './bmc-secret-box.js';

test('seal/open round-trips, differs each time, and refuses tampering or a wrong key', () => {
  const box = createSecretBox(new Uint8Array(32).fill(7));
  const a = box.seal('pässwörd');
  assert.notEqual(a, box.seal('pässwörd'));
  assert.ok(!a.includes('pässwörd'));
  assert.equal(box.open(a), 'pässwörd');
  const parts = a.split(':');
  parts[3] = Buffer.from('garbage').toString('base64url');
  assert.throws(() => box.open(parts.join(':')), (e) => hasCode(e, 'internal'));
  assert.throws(() => createSecretBox(new Uint8Array(32).fill(8)).open(a), (e) => hasCode(e, 'internal'));
});

test('the data key file is created once with mode 0600 and reused', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'kiln-box-'));
  const one = await loadSecretBox(dir);
  const sealed = one.seal('x');
  assert.equal(statSync(join(dir, 'data-key')).mode & 0o777, 0o600);
  assert.equal((await loadSecretBox(dir)).open(sealed), 'x');
});

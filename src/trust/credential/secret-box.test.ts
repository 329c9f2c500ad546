import { test } from 'node:test';
import assert from 'node:assert/strict';
import { chmod, mkdtemp, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { hasCode } from '../../error/kiln-error.js';
import { dataKeyFile, loadOrCreateDataKey, openSecret, sealSecret } from './secret-box.js';

async function tempDir(t: { after(fn: () => Promise<void>): void }): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), 'kiln-box-'));
  t.after(() => rm(dir, { recursive: true, force: true }));
  return dir;
}

test('the data key is 32 bytes in a 0600 file and is loaded again unchanged', async (t) => {
  const dir = await tempDir(t);
  const key = await loadOrCreateDataKey(dir);
  assert.equal(key.length, 32);
  assert.equal((await stat(join(dir, dataKeyFile))).mode & 0o777, 0o600);
  assert.deepEqual(await loadOrCreateDataKey(dir), key);
  assert.deepEqual(new Uint8Array(await readFile(join(dir, dataKeyFile))), key);
  // concurrent first starts agree on one key
  const other = await tempDir(t);
  const [a, b] = await Promise.all([loadOrCreateDataKey(other), loadOrCreateDataKey(other)]);
  assert.deepEqual(a, b);
});

test('a loose or wrong-size key file is refused', async (t) => {
  const dir = await tempDir(t);
  await writeFile(join(dir, dataKeyFile), new Uint8Array(16), { mode: 0o600 });
  await assert.rejects(loadOrCreateDataKey(dir), (e) => hasCode(e, 'config_invalid') && /32 bytes/.test(e.message));
  await chmod(join(dir, dataKeyFile), 0o644);
  await assert.rejects(loadOrCreateDataKey(dir), (e) => hasCode(e, 'config_invalid') && /0600/.test(e.message));
});

test('seal/open round-trips UTF-8; each seal uses a fresh IV', async (t) => {
  const key = await loadOrCreateDataKey(await tempDir(t));
  for (const clear of ['', 'calvin', 'pässwörd 🔑', 'x'.repeat(5000)]) {
    const sealed = sealSecret(key, clear, 'host:1');
    assert.match(sealed, /^v1:[A-Za-z0-9_-]{16}:[A-Za-z0-9_-]{22}:[A-Za-z0-9_-]*$/);
    assert.equal(openSecret(key, sealed, 'host:1'), clear);
  }
  assert.notEqual(sealSecret(key, 'calvin'), sealSecret(key, 'calvin'));
  assert.ok(!sealSecret(key, 'calvin').includes(Buffer.from('calvin').toString('base64url')));
});

test('a wrong key, wrong context, tampering or bad format fails with config_invalid and no leak', async (t) => {
  const key = await loadOrCreateDataKey(await tempDir(t));
  const otherKey = await loadOrCreateDataKey(await tempDir(t));
  const sealed = sealSecret(key, 'calvin', 'host:1');
  const fails = (k: typeof key, s: string, ctx: string) =>
    assert.throws(
      () => openSecret(k, s, ctx),
      (e) => hasCode(e, 'config_invalid') && !e.message.includes('calvin'),
    );
  fails(otherKey, sealed, 'host:1');
  fails(key, sealed, 'host:2');
  const parts = sealed.split(':');
  const ct = Buffer.from(parts[3], 'base64url');
  ct[0] ^= 1;
  fails(key, [...parts.slice(0, 3), ct.toString('base64url')].join(':'), 'host:1');
  fails(key, sealed.replace('v1:', 'v2:'), 'host:1');
  fails(key, 'calvin', '');
});

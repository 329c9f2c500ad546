import { test } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { createWrapKeyPair, unwrapKey, wrapKey } from './key-wrap.js';

test('a wrapped data key opens only with the joiner key pair and the same context', () => {
  const key = randomBytes(32);
  const joiner = createWrapKeyPair();
  const w = wrapKey(key, joiner.publicKey, 'join:abc');
  assert.deepEqual(Buffer.from(unwrapKey(w, joiner, 'join:abc')), key);
  // The key itself is nowhere in the envelope.
  assert.ok(!JSON.stringify(w).includes(key.toString('base64url')));
  // Another joiner's key, another context, or a flipped bit: refused, never a wrong key.
  assert.throws(() => unwrapKey(w, createWrapKeyPair(), 'join:abc'), { code: 'validation_failed' });
  assert.throws(() => unwrapKey(w, joiner, 'join:abd'), { code: 'validation_failed' });
  const ct = Buffer.from(w.ct, 'base64url');
  ct[0] ^= 1;
  assert.throws(() => unwrapKey({ ...w, ct: ct.toString('base64url') }, joiner, 'join:abc'), {
    code: 'validation_failed',
  });
  // Each wrap uses a fresh ephemeral key and IV.
  const again = wrapKey(key, joiner.publicKey, 'join:abc');
  assert.notEqual(again.epk, w.epk);
  assert.notEqual(again.ct, w.ct);
});

test('a public key that is not 32 raw bytes, or of low order, is refused', () => {
  const key = randomBytes(32);
  for (const bad of ['', 'abc', 'A'.repeat(44), 'not base64url!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!'])
    assert.throws(() => wrapKey(key, bad, 'c'), { code: 'validation_failed' });
  // The all-zero point (order 1) makes an all-zero shared secret.
  assert.throws(() => wrapKey(key, Buffer.alloc(32).toString('base64url'), 'c'), { code: 'validation_failed' });
});

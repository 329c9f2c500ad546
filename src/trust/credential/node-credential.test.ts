import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import {
  createApiToken,
  createNodeCredential,
  hashSecret,
  isSecretShaped,
  verifyApiToken,
  verifyNodeCredential,
} from './node-credential.js';

test('a node credential is kn_ + 43 base64url characters; only its SHA-256 is kept', () => {
  const { secret, hash } = createNodeCredential();
  assert.match(secret, /^kn_[A-Za-z0-9_-]{43}$/);
  assert.equal(Buffer.from(secret.slice(3), 'base64url').length, 32);
  assert.equal(hash, `sha256:${createHash('sha256').update(secret).digest('hex')}`);
  assert.ok(!hash.includes(secret.slice(3)));
  assert.ok(verifyNodeCredential(secret, hash));
  assert.notEqual(createNodeCredential().secret, secret);
});

test('verification refuses a changed secret, the wrong kind, and malformed input', () => {
  const node = createNodeCredential();
  const token = createApiToken();
  assert.match(token.secret, /^kt_/);
  assert.ok(verifyApiToken(token.secret, token.hash));
  const flipped = node.secret.slice(0, -1) + (node.secret.endsWith('A') ? 'B' : 'A');
  assert.equal(verifyNodeCredential(flipped, node.hash), false);
  assert.equal(verifyApiToken(node.secret, node.hash), false, 'a node credential is not an API token');
  assert.equal(verifyNodeCredential(token.secret, token.hash), false);
  assert.equal(verifyNodeCredential(node.secret, ''), false);
  assert.equal(verifyNodeCredential('', hashSecret('')), false);
  assert.equal(verifyNodeCredential(`${node.secret} `, hashSecret(`${node.secret} `)), false);
});

test('an injected random source makes issuance deterministic', () => {
  const zero = (n: number) => new Uint8Array(n);
  assert.equal(createNodeCredential(zero).secret, `kn_${'A'.repeat(43)}`);
  assert.ok(isSecretShaped(createApiToken(zero).secret));
  assert.equal(isSecretShaped('kn_short'), false);
});

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { hasCode } from '../../error/kiln-error.js';
import { formatOpenSshEd25519PrivateKey, parseOpenSshEd25519PrivateKey } from './openssh-private-key.js';

const key = { seed: new Uint8Array(32).fill(1), publicKey: new Uint8Array(32).fill(2), comment: 'kiln' };

test('formats and parses an unencrypted openssh-key-v1 key', () => {
  const text = formatOpenSshEd25519PrivateKey(key, 0x01020304);
  assert.match(text, /^-----BEGIN OPENSSH PRIVATE KEY-----\n[A-Za-z0-9+/=\n]+\n-----END OPENSSH PRIVATE KEY-----\n$/);
  assert.ok(text.split('\n').every((l) => l.length <= 70));
  assert.deepEqual(parseOpenSshEd25519PrivateKey(text, 'k'), key);
});

test('refuses damaged, foreign and encrypted files with config_invalid', () => {
  const text = formatOpenSshEd25519PrivateKey(key, 7);
  assert.throws(
    () => parseOpenSshEd25519PrivateKey('-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----', 'f'),
    (e) => hasCode(e, 'config_invalid') && /not an OpenSSH private key/.test(e.message),
  );
  const lines = text.trim().split('\n');
  const body = Buffer.from(lines.slice(1, -1).join(''), 'base64');
  const truncated = `${lines[0]}\n${body.subarray(0, body.length - 20).toString('base64')}\n${lines.at(-1)}`;
  assert.throws(
    () => parseOpenSshEd25519PrivateKey(truncated, 'f'),
    (e) => hasCode(e, 'config_invalid') && /^f: /.test(e.message),
  );
  // the cipher name follows the 15-byte magic: swap "none" for "aes256-ctr"
  const enc = Buffer.concat([
    body.subarray(0, 15),
    Buffer.from([0, 0, 0, 10]),
    Buffer.from('aes256-ctr'),
    body.subarray(15 + 8),
  ]);
  assert.throws(
    () => parseOpenSshEd25519PrivateKey(`${lines[0]}\n${enc.toString('base64')}\n${lines.at(-1)}`, 'f'),
    (e) => hasCode(e, 'config_invalid') && /encrypted/.test(e.message),
  );
});

import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { hasCode } from '../../error/kiln-error.js';
import { hashPassword, isCryptHash, isSha512CryptHash, sha512Crypt, verifyPassword } from './sha512-crypt.js';

// Test vectors from the specification (Drepper, SHA-crypt.txt, "Test vectors").
const vectors: Array<[string, string, string]> = [
  [
    '$6$saltstring',
    'Hello world!',
    '$6$saltstring$svn8UoSVapNtMuq1ukKS4tPQd8iKwSMHWjl/O817G3uBnIFNjnQJuesI68u4OTLiBFdcbYEdFCoEOfaS35inz1',
  ],
  [
    '$6$rounds=10000$saltstringsaltstring',
    'Hello world!',
    '$6$rounds=10000$saltstringsaltst$OW1/O6BYHV6BcXZu8QVeXbDWra3Oeqh0sbHbbMCVNSnCM/UrjmM0Dp8vOuZeHBy/YTBmSK6H9qs/y3RnOaw5v.',
  ],
  [
    '$6$rounds=77777$short',
    'we have a short salt string but not a short password',
    '$6$rounds=77777$short$WuQyW2YR.hBNpjjRhpYD/ifIw05xdfeEyQoMxIXbkvr0gge1a1x3yRULJ5CCaUeOxFmtlcGZelFl5CxtgfiAc0',
  ],
];

test('matches the specification test vectors (salt cut to 16, explicit rounds kept)', () => {
  for (const [setting, pw, want] of vectors) assert.equal(sha512Crypt(pw, setting), want);
});

test('rounds below 1000 are clamped to 1000, as glibc does', () => {
  assert.equal(sha512Crypt('pw', '$6$rounds=10$abc'), sha512Crypt('pw', '$6$rounds=1000$abc'));
  assert.match(sha512Crypt('pw', '$6$rounds=10$abc'), /^\$6\$rounds=1000\$abc\$/);
});

test('hashPassword uses a fresh 16-character salt and verifies', () => {
  const a = hashPassword('correct horse');
  const b = hashPassword('correct horse');
  assert.match(a, /^\$6\$[./0-9A-Za-z]{16}\$[./0-9A-Za-z]{86}$/);
  assert.notEqual(a, b);
  assert.ok(verifyPassword('correct horse', a));
  assert.ok(!verifyPassword('correct horsE', a));
  assert.match(hashPassword('x', { rounds: 2000 }), /^\$6\$rounds=2000\$/);
  assert.throws(
    () => hashPassword('x', { rounds: 999 }),
    (e) => hasCode(e, 'validation_failed'),
  );
  const fixed = () => new Uint8Array(12);
  assert.equal(hashPassword('x', { random: fixed }).split('$')[2], '................');
});

test('verifyPassword is false for malformed or foreign hashes', () => {
  assert.equal(verifyPassword('Hello world!', vectors[0][2].slice(0, -1)), false);
  assert.equal(verifyPassword('pw', '$1$abc$abcdefghijklmnopqrstuv'), false);
  assert.equal(verifyPassword('pw', 'pw'), false);
  assert.equal(verifyPassword('', ''), false);
});

test('isCryptHash accepts strong crypt(5) schemes and refuses clear text and MD5', () => {
  for (const [, , h] of vectors) assert.ok(isCryptHash(h) && isSha512CryptHash(h));
  assert.ok(isCryptHash('$5$saltstring$5B8vYYiY.CVt1RlTTf8KbXBH3hsxY/GNooZF7yM/9E0'));
  assert.ok(isCryptHash('$y$j9T$F5Jx5fExrKuPp53xLKQ..1$X3DX6M94c7o.9agCG9G317fhZg9SqC.5i5rd.RhAtQ7'));
  assert.ok(isCryptHash('$2b$12$R9h/cIPz0gi.URNNX3kh2OPST9/PgBkqquzi.Ss7KIUgO2t0jWMUW'));
  for (const s of [
    'hunter2',
    '',
    '$6$',
    '$6$salt$short',
    '$1$saltsalt$qjXMvbEw8oaL.CzflDugX/',
    'x'.repeat(106),
    `${vectors[0][2]}\n`,
  ]) {
    assert.equal(isCryptHash(s), false, s);
  }
});

test('property: any UTF-8 password verifies against its own hash and not a changed one', () => {
  fc.assert(
    fc.property(fc.string({ unit: 'grapheme', maxLength: 80 }), (pw) => {
      const h = hashPassword(pw, { rounds: 1000 });
      return verifyPassword(pw, h) && !verifyPassword(`${pw}.`, h);
    }),
    { numRuns: 40 },
  );
});

// Real peers: `openssl passwd -6` (OpenSSL's own SHA-crypt) and Python's
// crypt.crypt (libxcrypt, Debian's crypt(3)), fed the same salts.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { hashPassword, sha512Crypt, verifyPassword } from './sha512-crypt.js';

const passwords = [
  'hunter2',
  'pässwörd',
  'пароль-✓',
  '密码🔑 with spaces',
  'tab\tand"quote\'\\',
  'a'.repeat(63),
  'b'.repeat(64),
  'c'.repeat(65),
  'd'.repeat(127),
  'é'.repeat(100),
  'x'.repeat(300),
];
const settings = [
  '$6$saltstring',
  '$6$a',
  '$6$0123456789abcdef',
  '$6$0123456789abcdefXYZ',
  '$6$rounds=1000$rr',
  '$6$rounds=5000$rr',
  '$6$rounds=12345$./Zz',
];

/** Python's crypt.crypt for every (password, setting) pair in one process. */
function pythonCrypt(cases: Array<[string, string]>): string[] {
  const script = 'import crypt, json, sys\nprint(json.dumps([crypt.crypt(p, s) for p, s in json.load(sys.stdin)]))';
  const out = execFileSync('python3', ['-W', 'ignore', '-c', script], {
    input: JSON.stringify(cases),
    encoding: 'utf8',
    timeout: 60_000,
  });
  return JSON.parse(out) as string[];
}

/** `openssl passwd -6 -salt <salt> -stdin` (a password per line, so no newlines). */
function opensslCrypt(pw: string, setting: string): string {
  const salt = setting.slice(3);
  return execFileSync('openssl', ['passwd', '-6', '-salt', salt, '-stdin'], {
    input: `${pw}\n`,
    encoding: 'utf8',
    timeout: 20_000,
  }).trim();
}

test('equals libxcrypt (python crypt.crypt) for UTF-8, long and empty passwords and every salt/rounds form', () => {
  const cases: Array<[string, string]> = [...passwords, ''].flatMap((pw) =>
    settings.map((s): [string, string] => [pw, s]),
  );
  const want = pythonCrypt(cases);
  cases.forEach(([pw, s], i) =>
    assert.equal(sha512Crypt(pw, s), want[i], `password ${JSON.stringify(pw.slice(0, 20))} setting ${s}`),
  );
});

test('equals openssl passwd -6, including rounds below the minimum (clamped to 1000)', () => {
  // openssl passwd silently cuts passwords to 256 bytes; libxcrypt (above) and we do not.
  assert.equal(opensslCrypt('x'.repeat(300), '$6$saltstring'), sha512Crypt('x'.repeat(256), '$6$saltstring'));
  for (const pw of passwords.filter((p) => Buffer.byteLength(p) <= 256)) {
    for (const s of [...settings, '$6$rounds=100$low'])
      assert.equal(sha512Crypt(pw, s), opensslCrypt(pw, s), `password ${JSON.stringify(pw.slice(0, 20))} setting ${s}`);
  }
});

test('hashes made by hashPassword verify in libxcrypt, and libxcrypt hashes verify here', () => {
  const ours = passwords.map((pw, i) => hashPassword(pw, { rounds: i % 2 ? 5000 : 7777 }));
  const back = pythonCrypt(passwords.map((pw, i): [string, string] => [pw, ours[i]]));
  assert.deepEqual(back, ours);
  const script =
    'import crypt, json, sys\nprint(json.dumps([crypt.crypt(p, crypt.mksalt(crypt.METHOD_SHA512)) for p in json.load(sys.stdin)]))';
  const theirs = JSON.parse(
    execFileSync('python3', ['-W', 'ignore', '-c', script], {
      input: JSON.stringify(passwords),
      encoding: 'utf8',
      timeout: 60_000,
    }),
  ) as string[];
  theirs.forEach((h, i) => {
    assert.ok(verifyPassword(passwords[i], h), h);
    assert.ok(!verifyPassword(`${passwords[i]}x`, h));
  });
});

import assert from 'node:assert/strict';
import { test } from 'node:test';
import { checkClearSigned, parsePackagesIndex, parseRelease } from './release-file.js';

const H = (c: string) => c.repeat(64);

// A Release as apt-ftparchive writes it (fields, then one line per file under each hash field).
const release = [
  'Origin: Kiln',
  'Suite: bookworm',
  'Codename: bookworm',
  'Architectures: amd64',
  'MD5Sum:',
  ` ${'0'.repeat(32)}      120 main/binary-amd64/Packages`,
  'SHA256:',
  ` ${H('a')}      120 main/binary-amd64/Packages`,
  ` ${H('b')}       99 main/binary-amd64/Packages.gz`,
  '',
].join('\n');

test('a Release: suite, codename and its SHA256 entries', () => {
  assert.deepEqual(parseRelease(release, 'R'), {
    suite: 'bookworm',
    codename: 'bookworm',
    date: null,
    files: [
      { path: 'main/binary-amd64/Packages', size: 120, sha256: H('a') },
      { path: 'main/binary-amd64/Packages.gz', size: 99, sha256: H('b') },
    ],
  });
});

test("a Release's Date, as apt-ftparchive writes it, in ms; absent or unreadable is null", () => {
  const dated = (d: string) => parseRelease(`Date: ${d}\n${release}`, 'R').date;
  assert.equal(dated('Mon, 07 Dec 2026 18:05:07 UTC'), Date.UTC(2026, 11, 7, 18, 5, 7));
  assert.equal(dated('Mon, 07 Dec 2026 18:05:07 +0100'), Date.UTC(2026, 11, 7, 17, 5, 7));
  assert.equal(dated('yesterday'), null);
});

test('a Release entry that is not "<sha256> <size> <path in the suite>", or no SHA256, is refused', () => {
  const cases: Array<[string, string, RegExp]> = [
    ['a path out of the suite', release.replace('main/binary-amd64/Packages.gz', '../../etc/passwd'), /SHA256 entry/],
    ['an absolute path', release.replace('main/binary-amd64/Packages.gz', '/etc/passwd'), /SHA256 entry/],
    ['a hidden part', release.replace('main/binary-amd64/Packages.gz', 'main/.x'), /SHA256 entry/],
    ['a short hash', release.replace(H('b'), 'b'.repeat(40)), /SHA256 entry/],
    ['no SHA256 field', release.replace('SHA256:', 'SHA1:'), /no SHA256 field/],
    ['an empty SHA256 field', 'Suite: x\nSHA256:\n', /names no file/],
  ];
  for (const [name, text, message] of cases)
    assert.throws(() => parseRelease(text, 'R'), { code: 'peer_content_invalid', message }, name);
});

const stanza = (o: Record<string, string>) =>
  Object.entries(o)
    .map(([k, v]) => `${k}: ${v}`)
    .join('\n');
const alpha = {
  Package: 'alpha',
  Version: '1.0',
  Filename: 'pool/bookworm/amd64/alpha_1.0_amd64.deb',
  Size: '1234',
  SHA256: H('c'),
  Description: 'a\n multi-line description',
};

test('a Packages index: each package with its pool path, size and SHA-256', () => {
  const text = `${stanza(alpha)}\n\n${stanza({ ...alpha, Package: 'beta', Filename: 'pool/bookworm/amd64/beta_2~rc1+b1_all.deb' })}\n`;
  assert.deepEqual(parsePackagesIndex(text, 'P'), [
    { name: 'alpha', path: 'pool/bookworm/amd64/alpha_1.0_amd64.deb', size: 1234, sha256: H('c') },
    { name: 'beta', path: 'pool/bookworm/amd64/beta_2~rc1+b1_all.deb', size: 1234, sha256: H('c') },
  ]);
});

test('a Packages entry without a SHA-256, or whose Filename leaves pool/, is refused', () => {
  const cases: Array<[string, Record<string, string>, RegExp]> = [
    ['no SHA256', { ...alpha, SHA256: '' }, /alpha: no SHA256/],
    ['MD5 only', { ...alpha, SHA256: 'd'.repeat(32) }, /alpha: no SHA256/],
    ['a Filename with ..', { ...alpha, Filename: 'pool/../../etc/shadow' }, /not a file under pool/],
    ['a Filename under dists/', { ...alpha, Filename: 'dists/bookworm/InRelease' }, /not a file under pool/],
    ['no Size', { ...alpha, Size: 'big' }, /alpha: no Size/],
  ];
  for (const [name, entry, message] of cases)
    assert.throws(() => parsePackagesIndex(stanza(entry), 'P'), { code: 'peer_content_invalid', message }, name);
});

const signed = [
  '-----BEGIN PGP SIGNED MESSAGE-----',
  'Hash: SHA512',
  '',
  'Suite: bookworm',
  '-----BEGIN PGP SIGNATURE-----',
  '',
  'iHUEARYKAB0WIQ==',
  '-----END PGP SIGNATURE-----',
  '',
].join('\n');

test('an InRelease must be one clear-signed message and nothing around it', () => {
  checkClearSigned(signed, 'I');
  const cases: Array<[string, string]> = [
    ['text before it (gpgv would ignore it)', `Suite: evil\n${signed}`],
    ['a second signed message', `${signed}${signed}`],
    ['text after the signature', `${signed}Suite: evil\n`],
    ['not signed', 'Suite: bookworm\n'],
  ];
  for (const [name, text] of cases)
    assert.throws(() => checkClearSigned(text, 'I'), { code: 'peer_signature_invalid' }, name);
});

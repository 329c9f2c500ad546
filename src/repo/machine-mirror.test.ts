import assert from 'node:assert/strict';
import { test } from 'node:test';
import { mirrorFromSources } from './machine-mirror.js';

test('the mirror for a suite comes from the first enabled deb source with main, deb822 or one-line', () => {
  const sources = `Types: deb deb-src
URIs: http://mirror.example/debian/
Suites: bookworm bookworm-updates
Components: main contrib
Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg

Types: deb
URIs: http://security.example/debian-security
Suites: bookworm-security
Components: main
`;
  assert.equal(
    mirrorFromSources([{ name: 'debian.sources', text: sources }], 'bookworm'),
    'http://mirror.example/debian',
  );
  assert.equal(
    mirrorFromSources([{ name: 'debian.sources', text: sources }], 'bookworm-security'),
    'http://security.example/debian-security',
  );
  // A disabled paragraph, a deb-src-only one and a suite without main are passed over.
  const skipped = `Enabled: no
Types: deb
URIs: http://off.example/debian
Suites: trixie
Components: main

Types: deb-src
URIs: http://src.example/debian
Suites: trixie
Components: main

Types: deb
URIs: http://nomain.example/debian
Suites: trixie
Components: contrib
`;
  const list = '# comment\ndeb [arch=amd64 signed-by=/k.gpg] http://one.example/debian/ trixie main non-free\n';
  assert.equal(
    mirrorFromSources(
      [
        { name: 'a.sources', text: skipped },
        { name: 'b.list', text: list },
      ],
      'trixie',
    ),
    'http://one.example/debian',
  );
  assert.equal(mirrorFromSources([{ name: 'b.list', text: list }], 'bookworm'), undefined);
});

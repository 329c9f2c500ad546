import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { mirrorLinesFor, parseDeb822Sources, parseOneLineSources } from './debian-sources.js';
import { HOST_STATE_HOOKS, mmdebstrapArgs, NETWORK_HOOK } from './mmdebstrap-args.js';

// Host names below are placeholders of the test (RFC 2606 `.example`), not a mirror Kiln uses.
const deb822 = `Types: deb
# a comment
URIs: http://mirror.example/debian
Suites: bookworm bookworm-updates
Components: main
Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg

Types: deb
URIs: http://mirror.example/debian-security
Suites: bookworm-security
Components: main

Types: deb-src
URIs: http://mirror.example/debian
Suites: bookworm

Types: deb
URIs: http://vendor.example/apt
Suites: nodistro
Components: main
Enabled: yes
`;

describe('debian sources', () => {
  it('reads deb822 stanzas and one-line entries, skipping deb-src and comments', () => {
    const s = parseDeb822Sources(deb822);
    assert.deepEqual(
      s.map((x) => [x.uri, x.suites.join(' '), x.signedBy ?? '']),
      [
        ['http://mirror.example/debian', 'bookworm bookworm-updates', '/usr/share/keyrings/debian-archive-keyring.gpg'],
        ['http://mirror.example/debian-security', 'bookworm-security', ''],
        ['http://vendor.example/apt', 'nodistro', ''],
      ],
    );
    assert.deepEqual(
      parseOneLineSources(
        '# x\ndeb [arch=amd64 signed-by=/k.gpg] http://m.example/debian trixie main contrib\ndeb-src http://m.example/debian trixie main\n',
      ),
      [{ uri: 'http://m.example/debian', suites: ['trixie'], components: ['main', 'contrib'], signedBy: '/k.gpg' }],
    );
  });

  it('takes the suite and its updates and security companions; another release reuses the release URIs', () => {
    const s = parseDeb822Sources(deb822);
    assert.deepEqual(mirrorLinesFor(s, 'bookworm'), [
      'deb [signed-by=/usr/share/keyrings/debian-archive-keyring.gpg] http://mirror.example/debian bookworm main',
      'deb [signed-by=/usr/share/keyrings/debian-archive-keyring.gpg] http://mirror.example/debian bookworm-updates main',
      'deb http://mirror.example/debian-security bookworm-security main',
    ]);
    assert.deepEqual(mirrorLinesFor(s, 'trixie'), [
      'deb [signed-by=/usr/share/keyrings/debian-archive-keyring.gpg] http://mirror.example/debian trixie main',
      'deb http://vendor.example/apt trixie main',
    ]);
    assert.throws(() => mirrorLinesFor([], 'bookworm'), { code: 'config_invalid' });
  });
});

describe('mmdebstrap arguments', () => {
  it('a full image: base packages sorted, networkd enabled, overlay before the host-state hooks', () => {
    assert.deepEqual(
      mmdebstrapArgs({
        suite: 'bookworm',
        packages: ['vim', 'openssh-server'],
        overlay: '/srv/overlay',
        mirrors: ['deb http://m.example/debian bookworm main'],
        output: '/d/x.tar.zst',
      }),
      [
        '--variant=minbase',
        '--architectures=amd64',
        '--format=tar',
        '--include=curl,dbus,iproute2,linux-image-amd64,openssh-server,systemd,systemd-resolved,systemd-sysv,udev,vim',
        `--customize-hook=${NETWORK_HOOK}`,
        '--customize-hook=sync-in /srv/overlay /',
        ...HOST_STATE_HOOKS.map((h) => `--customize-hook=${h}`),
        'bookworm',
        '/d/x.tar.zst',
        'deb http://m.example/debian bookworm main',
      ],
    );
  });

  it('a bare image has no package list and no network hook', () => {
    const args = mmdebstrapArgs({
      suite: 'bookworm',
      packages: [],
      bare: true,
      variant: 'essential',
      mirrors: [],
      output: '/o.tar',
    });
    assert.deepEqual(args.slice(0, 3), ['--variant=essential', '--architectures=amd64', '--format=tar']);
    assert.ok(!args.some((a) => a.startsWith('--include') || a.includes('networkd')));
  });

  for (const [name, spec] of [
    ['a package with a shell character', { packages: ['a;rm'] }],
    ['a relative overlay', { overlay: 'overlay' }],
    ['an overlay with a space', { overlay: '/a b' }],
    ['a suite with a slash', { suite: 'bookworm/x' }],
  ] as const)
    it(`refuses ${name}`, () => {
      assert.throws(() => mmdebstrapArgs({ suite: 'bookworm', packages: [], mirrors: [], output: '/o.tar', ...spec }), {
        code: 'validation_failed',
      });
    });
});

import assert from 'node:assert/strict';
import { test } from 'node:test';
import { packageSets, repoTargets, type RepoProfile } from './repo-profile.js';
import { readPackagesIndex } from './sync-repo.js';

const base: RepoProfile = {
  name: 'debian-12',
  osVersion: '12',
  installMethod: 'preseed',
  packages: ['?priority(required)', 'openssh-server'],
  repo: { upstream: 'http://mirror.example/debian', suite: 'bookworm', debArch: 'amd64' },
};

test('one package set per variant, each on top of the common packages; one without variants', () => {
  assert.deepEqual(packageSets(base), [
    { profile: 'debian-12', variant: 'default', packages: ['?priority(required)', 'openssh-server'] },
  ]);
  const sets = packageSets({
    ...base,
    repo: { ...base.repo, variants: { bios: ['grub-pc'], uefi: ['grub-efi-amd64'] } },
  });
  assert.deepEqual(
    sets.map((s) => [s.variant, s.packages.at(-1)]),
    [
      ['bios', 'grub-pc'],
      ['uefi', 'grub-efi-amd64'],
    ],
  );
});

test('targets group by suite and architecture; d-i profiles are named for their installer files; two upstreams for one suite are refused', () => {
  const other = { ...base, name: 'other', installMethod: 'kiln-image', packages: ['curl'] };
  const [t, ...rest] = repoTargets([base, other, { ...base, name: 'arm', repo: { ...base.repo, debArch: 'arm64' } }]);
  assert.equal(rest.length, 1);
  assert.deepEqual(
    t!.sets.map((s) => s.profile),
    ['debian-12', 'other'],
  );
  assert.deepEqual(t!.installerProfiles, [{ name: 'debian-12', osVersion: '12' }]);
  assert.throws(
    () => repoTargets([base, { ...other, repo: { ...base.repo, upstream: 'http://elsewhere/debian' } }]),
    /taken from/,
  );
});

test("a Packages index: package count, the sum of Size, and each package's archive Priority and Section", () => {
  const idx =
    'Package: a\nVersion: 1\nPriority: important\nSection: utils\nSize: 100\n\nPackage: b\nVersion: 2\nSize: 2048\nDescription: x\n';
  const r = readPackagesIndex(idx);
  assert.deepEqual([r.packages, r.bytes], [2, 2148]);
  assert.deepEqual([...r.overrides], [['a', { priority: 'important', section: 'utils' }]]);
});

test('a target is full when one profile asks; extra suites are merged with their upstreams; udebs for preseed profiles unless turned off', () => {
  const full = { ...base, name: 'dev', installMethod: 'kiln-image', repo: { ...base.repo, mode: 'full' as const } };
  const upd = {
    ...base,
    name: 'upd',
    repo: {
      ...base.repo,
      extraSuites: [{ suite: 'bookworm-updates' }, { suite: 'bookworm-security', upstream: 'http://sec.example/ds' }],
    },
  };
  const [t] = repoTargets([base, full, upd], (s) => `http://machine.example/${s}`);
  assert.equal(t!.mode, 'full');
  assert.deepEqual(t!.extraSuites, [
    { suite: 'bookworm-updates', upstream: 'http://machine.example/bookworm-updates' },
    { suite: 'bookworm-security', upstream: 'http://sec.example/ds' },
  ]);
  assert.equal(t!.udebs, true);
  assert.equal(repoTargets([{ ...base, repo: { ...base.repo, udebs: false } }])[0]!.udebs, false);
  assert.equal(repoTargets([full])[0]!.udebs, false, 'not a debian-installer profile');
  assert.throws(
    () =>
      repoTargets(
        [upd, { ...upd, name: 'x', repo: { ...upd.repo, extraSuites: [{ suite: 'bookworm-security' }] } }],
        (x) => `http://machine.example/${x}`,
      ),
    /bookworm-security is taken from http:\/\/sec.example\/ds/,
  );
  assert.throws(() => repoTargets([upd], () => undefined), /no upstream archive for suite bookworm/);
});

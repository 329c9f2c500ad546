import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import { settings } from './settings.js';

test('README.md documents every kiln serve setting', () => {
  const readme = readFileSync(new URL('../../README.md', import.meta.url), 'utf8');
  const missing = settings.map((s) => s.name).filter((n) => !readme.includes(`\`${n}\``));
  assert.deepEqual(missing, []);
});

test('.ci/run runs the README quick start as written; the controller install has no test peers', () => {
  const root = new URL('../../', import.meta.url).pathname;
  const block = (n: number) =>
    execFileSync('bash', [join(root, 'scripts/readme-commands.sh'), String(n)], { encoding: 'utf8' })
      .split('\n')
      .filter(Boolean);
  const [quick, tests, ...more] = block(1);
  assert.equal(quick, 'bash scripts/quickstart.sh', "the README's first command, with no arguments");
  assert.equal(tests, 'bash scripts/install-test-peers.sh && npm test', "the README's test line");
  assert.deepEqual(more, []);
  const cli = block(2);
  assert.ok(cli.length >= 2 && cli.every((l) => l.startsWith('npx kiln ')), cli.join('\n'));
  const ci = readFileSync(join(root, '.ci/run'), 'utf8');
  for (const use of [
    'scripts/readme-commands.sh 1',
    'scripts/readme-commands.sh 2',
    '"${first[0]}"',
    '"${first[1]}"',
    '"$line"',
  ])
    assert.ok(ci.includes(use), `.ci/run uses ${use}`);
  const packagesOf = (file: string) => {
    const text = readFileSync(join(root, file), 'utf8');
    const list = /packages=\(\n([\s\S]*?)\n\)/.exec(text)![1];
    return list
      .split('\n')
      .filter((l) => !l.trim().startsWith('#'))
      .flatMap((l) => l.trim().split(/\s+/))
      .filter(Boolean);
  };
  const controller = packagesOf('scripts/install-debian-packages.sh');
  const peers = packagesOf('scripts/install-test-peers.sh');
  for (const p of [
    'kea-dhcp4-server',
    'dnsmasq-base',
    'nginx-light',
    'chromium',
    'prometheus',
    'tshark',
    'cloud-init',
    'qemu-system-arm',
    'qemu-system-x86',
    'openipmi',
    'tftpd-hpa',
  ]) {
    assert.ok(!controller.includes(p), `the controller install does not get ${p}`);
    assert.ok(peers.includes(p), `the test-peer install gets ${p}`);
  }
  assert.deepEqual(
    controller.filter((p) => peers.includes(p)),
    [],
    'no package in both lists',
  );
  assert.match(
    readFileSync(join(root, 'scripts/install-test-peers.sh'), 'utf8'),
    /bash scripts\/install-debian-packages\.sh/,
    'the test peers come on top of the controller install',
  );
});

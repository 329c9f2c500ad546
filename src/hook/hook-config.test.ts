import assert from 'node:assert/strict';
import { test } from 'node:test';
import { hasCode } from '../error/kiln-error.js';
import { readConfig } from '../config/parse-config.js';
import { defaultHookConfig } from './hook-config.js';

const fromFile = (yaml: string) =>
  readConfig({
    flags: {},
    env: {},
    cwd: '/srv/kiln',
    file: 'k.yaml',
    readFile: () => yaml,
    hostAddress: () => '192.0.2.9',
  }).config;

const issuesOf = (yaml: string): Array<{ path: string; message: string }> => {
  try {
    fromFile(yaml);
  } catch (e) {
    assert.ok(hasCode(e, 'config_invalid'), String(e));
    return e.issues as Array<{ path: string; message: string }>;
  }
  return assert.fail(`no error for ${yaml}`);
};

test('hooks: defaults; an executable hook needs an absolute program, a unique name, and no unknown key', () => {
  assert.deepEqual(fromFile('listen: 0.0.0.0:8080\n').hooks, defaultHookConfig);
  const c = fromFile(
    'hooks: { retry: { attempts: 3 }, exec: [{ name: dns, command: [/usr/bin/dns-hook, -z, lab], kinds: [host.] }] }\n',
  ).hooks;
  assert.deepEqual(c.retry, { ...defaultHookConfig.retry, attempts: 3 });
  assert.deepEqual(c.exec, [
    { name: 'dns', command: ['/usr/bin/dns-hook', '-z', 'lab'], kinds: ['host.'], timeoutSeconds: 30 },
  ]);
  assert.ok(
    issuesOf('hooks: { exec: [{ name: a, command: [dns-hook], kinds: [host.] }] }\n').some(
      (i) => i.path === 'hooks.exec.0.command.0' && /absolute/.test(i.message),
    ),
  );
  assert.ok(
    issuesOf(
      'hooks: { exec: [{ name: a, command: [/bin/true], kinds: ["*"] }, { name: a, command: [/bin/true], kinds: ["*"] }] }\n',
    ).some((i) => i.path === 'hooks.exec.1.name'),
  );
  assert.ok(
    issuesOf('hooks: { exec: [{ name: a, command: [/bin/true], kinds: ["*"], shell: true }] }\n').some((i) =>
      /shell/.test(i.path),
    ),
  );
  assert.ok(
    issuesOf('hooks: { retyr: {} }\n').some((i) => i.path === 'hooks.retyr' && /docs\/hooks\.md/.test(i.message)),
  );
});

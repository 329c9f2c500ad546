import assert from 'node:assert/strict';
import { test } from 'node:test';
import { hasCode } from '../error/kiln-error.js';
import { readConfig } from '../config/parse-config.js';
import { defaultSyslogConfig } from './syslog-config.js';

const fromFile = (yaml: string) =>
  readConfig({
    flags: {},
    env: {},
    cwd: '/srv/kiln',
    file: 'k.yaml',
    readFile: () => yaml,
    hostAddress: () => '192.0.2.9',
  }).config;

test('syslog: is off by default; given keys keep every other default, nested ones too; an unknown key is an error naming it', () => {
  assert.deepEqual(fromFile('listen: 0.0.0.0:8080\n').syslog, defaultSyslogConfig);
  const c = fromFile('syslog: { enabled: true, port: 5514, retention: { days: 3 } }\n').syslog;
  assert.deepEqual(c, {
    ...defaultSyslogConfig,
    enabled: true,
    port: 5514,
    retention: { ...defaultSyslogConfig.retention, days: 3 },
  });
  for (const [yaml, path] of [
    ['syslog: { enabeld: true }\n', 'syslog.enabeld'],
    ['syslog: { limits: { conections: 5 } }\n', 'syslog.limits.conections'],
    ['syslog: { port: 70000 }\n', 'syslog.port'],
  ]) {
    try {
      fromFile(yaml);
      assert.fail(`no error for ${yaml}`);
    } catch (e) {
      assert.ok(hasCode(e, 'config_invalid'), String(e));
      assert.ok(
        e.issues.some((i: { path: string; message: string }) => i.path === path && /docs\/syslog\.md/.test(i.message)),
        JSON.stringify(e.issues),
      );
    }
  }
});

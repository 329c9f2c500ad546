import assert from 'node:assert/strict';
import { test } from 'node:test';
import { hasCode } from '../error/kiln-error.js';
import { loadConfig } from './load.js';
import { settings } from './settings.js';
import { envName } from '../startup/setting-name.js';

const files = (map: Record<string, string>) => (p: string) => {
  if (!(p in map)) throw new Error(`ENOENT: ${p}`);
  return map[p];
};

test('defaults apply when nothing is given', () => {
  const c = loadConfig({ flags: {}, env: {}, cwd: '/srv/kiln' });
  assert.equal(c.values['data-dir'], '/srv/kiln/kiln-data');
  assert.equal(c.values['listen'], '0.0.0.0:8080');
  assert.equal(c.sources['listen'], 'default');
  assert.ok(Object.isFrozen(c.values));
});

test('flags beat environment, environment beats file, file beats defaults', () => {
  const c = loadConfig({
    flags: { listen: '127.0.0.1:9001' },
    env: { KILN_LISTEN: '127.0.0.1:9002', KILN_LOG_LEVEL: 'debug' },
    file: '/etc/kiln.yaml',
    readFile: files({
      '/etc/kiln.yaml': 'listen: 127.0.0.1:9003\nlog-level: warn\nprofiles-dir: /srv/profiles\ndhcp:\n  mode: proxy\n',
    }),
  });
  assert.equal(c.values['listen'], '127.0.0.1:9001');
  assert.equal(c.sources['listen'], 'flag');
  assert.equal(c.values['log-level'], 'debug');
  assert.equal(c.sources['log-level'], 'env');
  assert.equal(c.values['profiles-dir'], '/srv/profiles');
  assert.deepEqual(c.sections['dhcp'], { mode: 'proxy' });
});

test('numbers are parsed from strings and checked against bounds', () => {
  assert.equal(loadConfig({ flags: {}, env: { KILN_BODY_LIMIT: '2048' } }).values['body-limit'], 2048);
  assert.throws(
    () => loadConfig({ flags: { 'body-limit': '12' }, env: {} }),
    (e) => hasCode(e, 'config_invalid') && /--body-limit/.test(e.message) && /at least 1024/.test(e.message),
  );
});

test('every bad value is named with how to fix it', () => {
  assert.throws(
    () => loadConfig({ flags: { listen: 'nowhere', 'log-level': 'loud' }, env: { KILN_DATABASE_URL: 'mysql://x' } }),
    (e) => {
      assert.ok(hasCode(e, 'config_invalid'));
      assert.deepEqual(e.issues.map((i) => i.path).sort(), ['database-url', 'listen', 'log-level']);
      assert.match(e.message, /flag --listen="nowhere": expected HOST:PORT/);
      assert.match(e.message, /flag --log-level="loud": expected one of debug, info, warn, error/);
      assert.match(e.message, /environment KILN_DATABASE_URL="mysql:\/\/x": expected a postgres:\/\/ URL/);
      return true;
    },
  );
});

test('unknown keys and unreadable or malformed files are refused', () => {
  assert.throws(
    () => loadConfig({ flags: {}, env: {}, file: 'k.yaml', readFile: files({ 'k.yaml': 'lisen: 1.2.3.4:80\n' }) }),
    (e) => hasCode(e, 'config_invalid') && /unknown setting "lisen"/.test(e.message),
  );
  assert.throws(
    () => loadConfig({ flags: {}, env: {}, file: 'missing.yaml', readFile: files({}) }),
    (e) => hasCode(e, 'config_invalid') && /cannot read config file missing.yaml/.test(e.message),
  );
  assert.throws(
    () => loadConfig({ flags: {}, env: {}, file: 'bad.yaml', readFile: files({ 'bad.yaml': 'a: [1,\n' }) }),
    (e) => hasCode(e, 'config_invalid') && /not valid YAML/.test(e.message),
  );
});

test('every path setting, from every source, is resolved against the working directory at load', () => {
  const paths = settings.filter((s) => s.path).map((s) => s.name);
  assert.deepEqual(paths.sort(), [
    'admin-token-file',
    'data-dir',
    'ipxe-dir',
    'profiles-dir',
    'tls-cert-file',
    'tls-key-file',
  ]);
  for (const name of paths) {
    for (const source of ['flag', 'env', 'file'] as const) {
      const raw = `rel/${name}`;
      const c = loadConfig({
        cwd: '/srv/kiln',
        flags: source === 'flag' ? { [name]: raw } : {},
        env: source === 'env' ? { [envName(name)]: raw } : {},
        ...(source === 'file' ? { file: 'k.yaml', readFile: files({ 'k.yaml': `${name}: ${raw}\n` }) } : {}),
      });
      assert.equal(c.values[name], `/srv/kiln/rel/${name}`, `${name} from ${source}`);
      assert.equal(c.sources[name], source);
    }
    const abs = loadConfig({ cwd: '/srv/kiln', flags: { [name]: '/etc/kiln/../kiln/x' }, env: {} });
    assert.equal(abs.values[name], '/etc/kiln/x', `${name}: an absolute path is normalized`);
  }
  const d = loadConfig({ cwd: '/srv/kiln', flags: {}, env: {} });
  assert.equal(d.values['data-dir'], '/srv/kiln/kiln-data', 'the default ./kiln-data');
  assert.equal(d.values['profiles-dir'], '/srv/kiln/profiles');
  assert.equal(d.values['admin-token-file'], undefined, 'unset stays unset');
  const t = loadConfig({
    cwd: '/srv/kiln',
    flags: {},
    env: {},
    file: 'k.yaml',
    readFile: files({ 'k.yaml': 'tftp: { enabled: true, root: ./tftp }\n' }),
  });
  assert.deepEqual(t.sections['tftp'], { enabled: true, root: '/srv/kiln/tftp' }, 'section paths too');
});

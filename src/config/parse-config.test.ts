import assert from 'node:assert/strict';
import { test } from 'node:test';
import { hasCode } from '../error/kiln-error.js';
import { readConfig } from './parse-config.js';

const fromFile = (yaml: string, flags: Record<string, unknown> = {}) =>
  readConfig({ flags, env: {}, cwd: '/srv/kiln', file: 'k.yaml', readFile: () => yaml, hostAddress: () => '192.0.2.9' })
    .config;

/** The issues of the config_invalid error `f` throws (fails the test when it throws anything else or nothing). */
function issuesOf(f: () => unknown): Array<{ path: string; code: string; message: string }> {
  try {
    f();
  } catch (e) {
    assert.ok(hasCode(e, 'config_invalid'), String(e));
    return e.issues;
  }
  assert.fail('no error thrown');
}

test('argv and environment give one typed config: every group and section with its defaults, URLs derived, frozen', () => {
  const { config: c } = readConfig({
    flags: { listen: '0.0.0.0:9000', 'power-timeout': '30' },
    env: { KILN_DISCOVERY: 'allow-list', KILN_DISCOVERY_ALLOW: '52:54:00', KILN_IPXE_DIR: 'ipxe' },
    cwd: '/srv/kiln',
    hostAddress: () => '192.0.2.9',
  });
  assert.equal(c.server['data-dir'], '/srv/kiln/kiln-data');
  assert.equal(c.server['admin-token-file'], undefined);
  assert.equal(c.power['power-timeout'], 30);
  assert.equal(c.power['power-libvirt-test-driver'], false);
  assert.equal(c.discovery.discovery, 'allow-list');
  assert.equal(c.discovery['discovery-allow'], '52:54:00');
  assert.equal(c.templates['template-timeout-ms'], 2000);
  assert.deepEqual(c.urls, {
    http: { host: '0.0.0.0', port: 9000 },
    https: { host: '0.0.0.0', port: 8443 },
    publicHost: '192.0.2.9',
    baseUrl: 'http://192.0.2.9:9000',
    apiUrl: 'https://192.0.2.9:8443',
  });
  assert.equal(c.dhcp.enabled, false);
  assert.equal(c.dhcp.serverAddress, '192.0.2.9', 'dhcp.serverAddress defaults to the public host');
  assert.equal(c.dhcp.httpBase, 'http://192.0.2.9:9000', 'dhcp.httpBase defaults to the base URL');
  assert.deepEqual(Object.keys(c.dhcp.bootFiles).sort(), ['biosPxe', 'efiArm64', 'efiX64']);
  assert.equal(c.tftp.enabled, false, 'TFTP follows DHCP');
  assert.equal(c.tftp.root, '/srv/kiln/ipxe', 'TFTP serves ipxe-dir by default');
  assert.deepEqual(c.site, { domain: 'kiln.internal', timezone: 'UTC', ntp: [], dns: [] });
  assert.ok(Object.isFrozen(c) && Object.isFrozen(c.dhcp.bootFiles) && Object.isFrozen(c.server));
});

test('sections from the file: defaults filled, public-url and tls-listen "" reach the URLs, site keeps extra keys for templates', () => {
  const c = fromFile(
    [
      'public-url: http://kiln.lab:8080',
      'tls-listen: ""',
      'site: { domain: lab.example.org, ntp: [10.20.0.1], rack: r7 }',
      'dhcp:',
      '  enabled: true',
      '  subnets: [{ cidr: 10.20.0.0/24, mode: full, attached: true }]',
      'tftp: { root: ./tftp }',
    ].join('\n'),
  );
  assert.equal(c.urls.https, null);
  assert.equal(c.urls.apiUrl, 'http://kiln.lab:8080');
  assert.equal(c.dhcp.httpBase, 'http://kiln.lab:8080');
  assert.equal(c.dhcp.subnets[0].leaseSeconds, 3600);
  assert.deepEqual(c.dhcp.subnets[0].pools, []);
  assert.equal(c.tftp.enabled, true);
  assert.equal(c.tftp.root, '/srv/kiln/tftp');
  assert.deepEqual(c.site, { domain: 'lab.example.org', timezone: 'UTC', ntp: ['10.20.0.1'], dns: [], rack: 'r7' });
});

test('an unknown section is an error naming it; power: and trust: are no longer accepted and ignored', () => {
  const issues = issuesOf(() => fromFile('power: { driver: ipmi }\ntrust: {}\ndchp: { enabled: true }\n'));
  assert.deepEqual(
    issues.map((i) => [i.path, i.code]),
    [
      ['power', 'unknown_setting'],
      ['trust', 'unknown_setting'],
      ['dchp', 'unknown_setting'],
    ],
  );
  assert.match(issues[0].message, /unknown section "power"; see the configuration reference in README\.md/);
  assert.match(issues[2].message, /unknown section "dchp" \(did you mean "dhcp"\?\)/);
});

test('an unknown key in a section is an error naming its path, the closest key and where the keys are documented', () => {
  const issues = issuesOf(() =>
    fromFile(
      [
        'dhcp:',
        '  enabled: true',
        '  offerHold: 3',
        '  subnets: [{ cidr: 10.20.0.0/24, mode: full, atached: true }]',
        '  routerAdvertisements: { enable: false }',
        'tftp: { maxTransfer: 3 }',
      ].join('\n'),
    ),
  );
  assert.deepEqual(
    issues.map((i) => i.path),
    ['dhcp.offerHold', 'dhcp.subnets.0.atached', 'dhcp.routerAdvertisements.enable', 'tftp.maxTransfer'],
  );
  assert.ok(issues.every((i) => i.code === 'unknown_setting'));
  assert.match(issues[0].message, /unknown key "dhcp\.offerHold"; the keys of dhcp are enabled, .*offerHoldSeconds/);
  assert.match(issues[1].message, /\(did you mean "dhcp\.subnets\.0\.attached"\?\).*\(see docs\/dhcp\.md\)/);
  assert.match(issues[2].message, /did you mean "dhcp\.routerAdvertisements\.enabled"/);
  assert.match(issues[3].message, /did you mean "tftp\.maxTransfers"\?.*\(see docs\/tftp\.md\)/);
});

test('every bad section value is named in one error: type, range, choice, and a section that is not a mapping', () => {
  const issues = issuesOf(() =>
    fromFile(
      [
        'dhcp:',
        '  offerHoldSeconds: 0',
        '  subnets: [{ cidr: 10.20.0.0/24, mode: fulll }]',
        'tftp: { workers: many }',
        'site: [a, b]',
      ].join('\n'),
    ),
  );
  assert.deepEqual(
    issues.map((i) => i.path),
    ['dhcp.subnets.0.mode', 'dhcp.offerHoldSeconds', 'tftp.workers', 'site'],
  );
  const text = issues.map((i) => i.message).join('\n');
  assert.match(text, /dhcp\.subnets\.0\.mode: expected one of off, proxy, reservation, full, got "fulll"/);
  assert.match(text, /dhcp\.offerHoldSeconds: Expected integer to be greater or equal to 1/);
  assert.match(text, /tftp\.workers: Expected integer/);
  assert.match(text, /site: expected a mapping of key: value/);
});

test('tls-cert-file without tls-key-file is refused at load', () => {
  const issues = issuesOf(() => readConfig({ flags: { 'tls-cert-file': '/etc/kiln/cert.pem' }, env: {} }));
  assert.deepEqual(issues, [
    { path: 'tls-cert-file', code: 'bad_value', message: 'set both tls-cert-file and tls-key-file, or neither' },
  ]);
});

test('doctor: defaults when absent, keys from the file, an unknown key or a fail threshold above its warn refused', () => {
  const d = fromFile('');
  assert.equal(d.doctor.intervalSeconds, 300);
  assert.equal(d.doctor.diskFailPercent, 2);
  const c = fromFile('doctor: { intervalSeconds: 60, diskWarnMiB: 8192, diskFailPercent: 5, tlsWarnDays: 14 }\n');
  assert.deepEqual(c.doctor, {
    intervalSeconds: 60,
    timeoutSeconds: 10,
    diskWarnMiB: 8192,
    diskFailMiB: 1024,
    diskWarnPercent: 10,
    diskFailPercent: 5,
    tlsWarnDays: 14,
    clockAheadSeconds: 60,
  });
  const issues = issuesOf(() => fromFile('doctor: { intervalSecond: 60, diskFailMiB: 9000, intervalSeconds: 1 }\n'));
  assert.deepEqual(
    issues.map((i) => [i.path, i.code]),
    [
      ['doctor.intervalSecond', 'unknown_setting'],
      ['doctor.intervalSeconds', 'bad_value'],
    ],
  );
  assert.match(issues[0].message, /did you mean "doctor\.intervalSeconds"\?.*\(see docs\/doctor\.md\)/);
  assert.deepEqual(
    issuesOf(() => fromFile('doctor: { diskFailMiB: 9000 }\n')).map((i) => i.message),
    ['doctor.diskFailMiB (9000) must not be above doctor.diskWarnMiB (4096)'],
  );
});

test('power-launch-grace: seconds, 10 by default, 1 to 600 accepted; outside the range or not an integer refused as config_invalid naming it', () => {
  const read = (flags: Record<string, unknown>, env: Record<string, string> = {}) =>
    readConfig({ flags, env, cwd: '/srv/kiln', hostAddress: () => '192.0.2.9' }).config.power['power-launch-grace'];
  assert.equal(read({}), 10, 'the default is unchanged (admission.ts launchGraceMs: 10 000 ms)');
  assert.equal(read({ 'power-launch-grace': '120' }), 120);
  assert.equal(read({}, { KILN_POWER_LAUNCH_GRACE: '1' }), 1);
  assert.equal(read({ 'power-launch-grace': '600' }), 600);
  assert.equal(fromFile('power-launch-grace: 90\n').power['power-launch-grace'], 90);
  for (const bad of ['0', '601', '-5', '1.5', 'soon', '']) {
    const issues = issuesOf(() => read({ 'power-launch-grace': bad }));
    assert.deepEqual(
      issues.map((i) => [i.path, i.code]),
      [['power-launch-grace', 'bad_value']],
      `--power-launch-grace=${JSON.stringify(bad)}`,
    );
    assert.match(issues[0]!.message, /^flag --power-launch-grace=/);
  }
});

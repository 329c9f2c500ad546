// The libvirt address allow-list, generated per class: every driver ×
// transport × parameter, hosts and users that ssh would read as options, test:
// URIs with and without the development setting, and a property over
// arbitrary strings that whatever passes carries nothing libvirt would act on.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import fc from 'fast-check';
import { hasCode } from '../../error/kiln-error.js';
import { createLibvirtDriver } from './libvirt-driver.js';
import { checkLibvirtUri, type LibvirtUriIssue } from './libvirt-uri.js';
import { createVirshExec, createVirshSession, type VirshRunner } from './virsh-runner.js';

function issueOf(uri: string, allowTestDriver = false): LibvirtUriIssue | 'ok' {
  try {
    checkLibvirtUri(uri, { allowTestDriver });
    return 'ok';
  } catch (err) {
    assert.ok(hasCode(err, 'validation_failed'), `${uri}: ${String(err)}`);
    const issue = err.issues[0];
    assert.equal(issue.path, '/bmc/address');
    return issue.code as LibvirtUriIssue;
  }
}

const goodTransports = ['', '+unix', '+ssh', '+libssh', '+libssh2', '+tls', '+tcp'];
const badTransports = ['+ext', '+EXT', '+foo', '+'];
const goodParams = [
  '',
  '?no_tty=1',
  '?no_tty=0',
  '?sshauth=agent',
  '?sshauth=agent,privkey',
  '?no_tty=1&sshauth=privkey',
];
const badParams: Array<[string, LibvirtUriIssue]> = [
  ['?command=/bin/sh', 'libvirt_parameter_refused'],
  ['?socket=/var/run/other.sock', 'libvirt_parameter_refused'],
  ['?netcat=/tmp/x', 'libvirt_parameter_refused'],
  ['?keyfile=/root/.ssh/id_ed25519', 'libvirt_parameter_refused'],
  ['?no_verify=1', 'libvirt_parameter_refused'],
  ['?known_hosts=/dev/null', 'libvirt_parameter_refused'],
  ['?known_hosts_verify=ignore', 'libvirt_parameter_refused'],
  ['?pkipath=/tmp', 'libvirt_parameter_refused'],
  ['?name=test:///etc/shadow', 'libvirt_parameter_refused'],
  ['?mode=direct', 'libvirt_parameter_refused'],
  ['?proxy=netcat', 'libvirt_parameter_refused'],
  ['?tls_priority=NONE', 'libvirt_parameter_refused'],
  ['?no_tty=1&command=/bin/sh', 'libvirt_parameter_refused'],
  ['?no_tty=1;command=/bin/sh', 'libvirt_parameter_refused'],
  ['?__proto__=1', 'libvirt_parameter_refused'],
  ['?constructor', 'libvirt_parameter_refused'],
  ['?no_tty=2', 'libvirt_parameter_refused'],
  ['?sshauth=password', 'libvirt_parameter_refused'],
  ['?%63ommand=/bin/sh', 'libvirt_uri_syntax'],
  ['?command%3D/bin/sh', 'libvirt_uri_syntax'],
  ['#frag', 'libvirt_uri_syntax'],
];
const authorities = (t: string) =>
  t === '' || t === '+unix' ? [''] : ['hv1', 'root@hv1.lab.example:22', '10.0.0.5', '[fd00::5]:16514'];

describe('libvirt address allow-list', () => {
  it('accepts every allowed driver × transport × parameter combination', () => {
    for (const driver of ['qemu', 'xen', 'lxc', 'ch', 'bhyve']) {
      for (const t of goodTransports) {
        for (const auth of authorities(t)) {
          for (const path of ['/system', '/session']) {
            for (const q of goodParams)
              assert.equal(issueOf(`${driver}${t}://${auth}${path}${q}`), 'ok', `${driver}${t}://${auth}${path}${q}`);
          }
        }
      }
    }
  });

  it('refuses every dangerous parameter on every transport, and +ext with any parameter', () => {
    let n = 0;
    for (const t of goodTransports) {
      for (const auth of authorities(t)) {
        for (const [q, code] of badParams) {
          assert.equal(issueOf(`qemu${t}://${auth}/system${q}`), code, `qemu${t}://${auth}/system${q}`);
          n++;
        }
      }
    }
    for (const t of badTransports) {
      for (const q of [...goodParams, ...badParams.filter(([, c]) => c !== 'libvirt_uri_syntax').map(([p]) => p)]) {
        const uri = `qemu${t}:///system${q}`;
        assert.equal(issueOf(uri), t === '+EXT' || t === '+' ? 'libvirt_uri_syntax' : 'libvirt_transport_refused', uri);
        n++;
      }
    }
    assert.ok(n > 150, `${n} combinations`);
  });

  it('refuses other drivers, paths, and hosts or users that a tool would read as an option', () => {
    const table: Array<[string, LibvirtUriIssue]> = [
      ['vbox:///session', 'libvirt_driver_refused'],
      ['esx://h/system', 'libvirt_driver_refused'],
      ['remote:///system', 'libvirt_driver_refused'],
      ['qemu:///embed', 'libvirt_path_refused'],
      ['qemu:///', 'libvirt_path_refused'],
      ['qemu://', 'libvirt_path_refused'],
      ['qemu:///system/../x', 'libvirt_path_refused'],
      ['qemu:///etc/passwd', 'libvirt_path_refused'],
      ['qemu+ssh://-oProxyCommand=sh/system', 'libvirt_host_refused'],
      ['qemu+ssh://-oProxyCommand=sh@hv1/system', 'libvirt_host_refused'],
      ['qemu+ssh://hv1:0/system', 'libvirt_host_refused'],
      ['qemu+ssh://hv1:99999/system', 'libvirt_host_refused'],
      ['qemu+ssh://hv_1/system', 'libvirt_host_refused'],
      ['qemu+ssh://a@b@hv1/system', 'libvirt_host_refused'],
      ['qemu+ssh://hv1;id/system', 'libvirt_host_refused'],
      ['qemu+ssh://hv 1/system', 'libvirt_uri_syntax'],
      ['qemu+ssh://hv1/system\n', 'libvirt_uri_syntax'],
      ['qemu+ssh://hv1\\x/system', 'libvirt_uri_syntax'],
      ['QEMU:///system', 'libvirt_uri_syntax'],
      ['/etc/passwd', 'libvirt_uri_syntax'],
      ['', 'libvirt_uri_syntax'],
    ];
    for (const [uri, code] of table) assert.equal(issueOf(uri), code, uri);
  });

  it('test: only as the built-in test:///default, and only with the development setting', () => {
    assert.equal(issueOf('test:///default'), 'libvirt_driver_refused');
    assert.equal(issueOf('test:///default', true), 'ok');
    for (const uri of [
      'test:///tmp/kiln/admin-token',
      'test:///etc/shadow',
      'test:///default/../etc/shadow',
      'test:///default?x=1',
      'test+ssh://hv1/default',
      'test://hv1/default',
      'test+ext:///default?command=/bin/sh',
      'test:///defaults',
      'test:///./default',
    ]) {
      assert.notEqual(issueOf(uri, true), 'ok', uri);
      assert.notEqual(issueOf(uri, false), 'ok', uri);
    }
  });

  it('whatever passes, read the way libvirt reads it, has no transport, parameter or path it would act on (property)', () => {
    const piece = fc.constantFrom(
      'qemu',
      'test',
      '+',
      'ext',
      'ssh',
      '://',
      '/',
      'system',
      'default',
      '?',
      '&',
      ';',
      '=',
      '%',
      '63',
      'command',
      'socket',
      'no_tty',
      '1',
      'sshauth',
      'agent',
      '@',
      ':',
      '-o',
      'hv1',
      '.',
      '[',
      ']',
      '#',
      ' ',
      '\n',
      'name',
      'x',
    );
    fc.assert(
      fc.property(fc.array(piece, { maxLength: 14 }), fc.boolean(), (parts, dev) => {
        const uri = parts.join('');
        if (issueOf(uri, dev) !== 'ok') return;
        assert.ok(!/\+ext/i.test(uri) && !uri.includes('%') && !/[\s#]/.test(uri), uri);
        const [scheme, rest = ''] = uri.split('://');
        if (scheme === 'test') {
          assert.ok(dev && uri === 'test:///default', uri);
          return;
        }
        const [authAndPath, query] = rest.split('?');
        const authority = authAndPath.slice(0, authAndPath.indexOf('/'));
        assert.ok(!authority.startsWith('-') && !authority.includes('@-'), uri);
        assert.ok(['/system', '/session'].includes(authAndPath.slice(authority.length)), uri);
        for (const p of (query ?? '').split(/[&;]/).filter((x) => query !== undefined || x)) {
          assert.ok(['no_tty', 'sshauth'].includes(p.split('=')[0]), `${uri}: ${p}`);
        }
      }),
      { numRuns: 1500, seed: 11 },
    );
  });

  it('a refused address fails when the driver is built, before any virsh runs', () => {
    const calls: string[][] = [];
    const runner: VirshRunner = {
      run: async (a) => {
        calls.push(a);
        return { ok: true, stdout: '', stderr: '' };
      },
      close: async () => {},
    };
    for (const address of [
      'qemu+ext:///system?command=/bin/sh',
      'test:///tmp/admin-token',
      'qemu:///system?socket=/tmp/s',
    ]) {
      assert.throws(
        () =>
          createLibvirtDriver(
            { driver: 'libvirt', address, options: { domain: 'x' } },
            { runner, allowTestDriver: true },
          ),
        (e) => hasCode(e, 'validation_failed'),
      );
    }
    assert.deepEqual(calls, []);
  });

  it('a missing virsh is a bmc_error naming it, for one-shot and session runners (never a crash)', async () => {
    for (const runner of [
      createVirshExec('qemu:///system', { timeoutMs: 2000, virshPath: '/nonexistent/virsh' }),
      createVirshSession('qemu:///system', { timeoutMs: 2000, virshPath: '/nonexistent/virsh' }),
    ]) {
      const d = createLibvirtDriver(
        { driver: 'libvirt', address: 'qemu:///system', options: { domain: 'x' } },
        { runner },
      );
      await assert.rejects(
        d.powerStatus(),
        (e) => hasCode(e, 'bmc_error') && /cannot run virsh/.test((e as Error).message),
      );
      await d.close();
    }
  });

  it('refuses domain names virsh could read as an option or a second command', () => {
    for (const domain of ['-x', '--all', ' x', 'a\nlist', 'a\u0000b']) {
      assert.throws(
        () => createLibvirtDriver({ driver: 'libvirt', address: 'qemu:///system', options: { domain } }),
        (e) => hasCode(e, 'validation_failed'),
        JSON.stringify(domain),
      );
    }
    assert.doesNotThrow(() =>
      createLibvirtDriver({ driver: 'libvirt', address: 'qemu:///system', options: { domain: 'web-01 (old)' } }),
    );
  });
});

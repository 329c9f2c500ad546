// A real `kiln serve` (compiled dist/) whose data dir is made world-writable and whose ipxe-dir lacks a boot
// file: `kiln doctor` names both with their fixes and exits 1; after the repair it exits 0. The failure is one
// event and one metric count, however many runs see it.
import assert from 'node:assert/strict';
import { chmodSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { execFileSync } from 'node:child_process';
import { runKiln, startServe } from '../../test/support/serve-process.js';
import { canUseNetns, createNetns } from '../../test/support/netns.js';

test('kiln doctor names a broken check with its fix, then passes once repaired', async () => {
  const dataDir = mkdtempSync(join(tmpdir(), 'kiln-doctor-'));
  const ipxeDir = mkdtempSync(join(tmpdir(), 'kiln-doctor-ipxe-'));
  writeFileSync(join(ipxeDir, 'undionly.kpxe'), 'x');
  // No profile: the repo subset check (issue 18) has nothing to check and passes at once.
  const profilesDir = mkdtempSync(join(tmpdir(), 'kiln-doctor-profiles-'));
  const s = await startServe(['--data-dir', dataDir, '--ipxe-dir', ipxeDir, '--profiles-dir', profilesDir]);
  try {
    const env = { KILN_SERVER: s.url, KILN_TOKEN: readFileSync(join(dataDir, 'admin-token'), 'utf8').trim() };
    chmodSync(dataDir, 0o777);
    const broken = await runKiln(['doctor'], env);
    assert.equal(broken.code, 1, broken.stdout + broken.stderr);
    assert.match(
      broken.stdout,
      new RegExp(`^FAIL  data-dir-permissions .*mode 0777.*\\n\\s+fix: chmod 0700 ${dataDir}$`, 'm'),
    );
    assert.match(
      broken.stdout,
      /^FAIL {2}ipxe-binaries .*missing or unreadable in ipxe-dir .*ipxe\.efi.*\n\s+fix: install Debian's ipxe package/m,
    );
    assert.match(broken.stdout, /^OK {4}store /m);
    assert.match(broken.stdout, /^OK {4}http-probe .*answered 200/m);
    assert.match(broken.stderr, /self-check\(s\) failed: data-dir-permissions, ipxe-binaries/);
    await runKiln(['doctor'], env); // a second failing run: no second event
    chmodSync(dataDir, 0o700);
    for (const f of ['ipxe.efi', 'ipxe-arm64.efi']) writeFileSync(join(ipxeDir, f), 'x');
    const fixed = await runKiln(['doctor', '--json'], env);
    const report = JSON.parse(fixed.stdout) as { status: string; checks: Array<{ name: string; status: string }> };
    assert.deepEqual(
      report.checks.filter((c) => c.status !== 'ok').map((c) => c.name),
      [],
      fixed.stdout,
    );
    assert.equal(fixed.code, 0);
    const events = await runKiln(['events', '--kind', 'controller.', '--json'], env);
    const kinds = (JSON.parse(events.stdout) as Array<{ kind: string; data: { check: string } }>).map(
      (e) => `${e.kind} ${e.data.check}`,
    );
    assert.deepEqual(kinds.sort(), [
      'controller.check_failed data-dir-permissions',
      'controller.check_failed ipxe-binaries',
      'controller.check_recovered data-dir-permissions',
      'controller.check_recovered ipxe-binaries',
    ]);
    const metrics = await fetch(`${s.url}/metrics`, { headers: { authorization: `Bearer ${env.KILN_TOKEN}` } }).then(
      (r) => r.text(),
    );
    assert.match(metrics, /^kiln_check_failures_total\{check="data-dir-permissions"\} 1$/m);
    assert.match(metrics, /^kiln_check_status\{check="data-dir-permissions"\} 0$/m);
    // The same report over the API, and only for a credential.
    const anon = await fetch(`${s.url}/api/v1/health/details`);
    assert.equal(anon.status, 401);
  } finally {
    s.child.kill('SIGTERM');
    await s.exited;
  }
});

test(
  'kiln doctor against live DHCP, TFTP and radvd on a test interface: a link taken down fails dhcp-sockets with its fix',
  { skip: !canUseNetns() && 'needs root and iproute2 (network namespaces)' },
  async () => {
    const ns = createNetns('dr', '10.96.1.1/24', '10.96.1.2/24');
    const dataDir = mkdtempSync(join(tmpdir(), 'kiln-doctor-'));
    const config = join(dataDir, 'kiln.yaml');
    writeFileSync(
      config,
      [
        'dhcp:',
        '  enabled: true',
        '  subnets:',
        '    - { cidr: 10.96.1.0/24, mode: full, attached: true, pools: [{ start: 10.96.1.100, end: 10.96.1.150 }] }',
        'tftp: { enabled: true, address: 10.96.1.1 }',
        '',
      ].join('\n'),
    );
    const s = await startServe(['--data-dir', dataDir, '--config', config]);
    try {
      const env = { KILN_SERVER: s.url, KILN_TOKEN: readFileSync(join(dataDir, 'admin-token'), 'utf8').trim() };
      const status = async () => {
        const r = await runKiln(['doctor', '--json'], env);
        return Object.fromEntries(
          (
            JSON.parse(r.stdout) as { checks: Array<{ name: string; status: string; detail: string; fix?: string }> }
          ).checks.map((c) => [c.name, c]),
        );
      };
      const up = await status();
      assert.equal(up['dhcp-sockets']?.status, 'ok', JSON.stringify(up['dhcp-sockets']));
      assert.equal(up['dhcp-sockets']?.detail, `sockets bound: 10.96.1.0/24 on ${ns.hostIf}`);
      assert.equal(up['tftp-probe']?.status, 'ok', JSON.stringify(up['tftp-probe']));
      assert.match(up['tftp-probe']?.detail ?? '', /TFTP at 10\.96\.1\.1:69 answered a read request \(error\)/);
      assert.equal(up['radvd']?.status, 'ok', JSON.stringify(up['radvd']));
      execFileSync('ip', ['link', 'set', ns.hostIf, 'down']);
      const down = await status();
      assert.equal(down['dhcp-sockets']?.status, 'fail');
      assert.equal(down['dhcp-sockets']?.fix, `ip link set ${ns.hostIf} up`);
      execFileSync('ip', ['link', 'set', ns.hostIf, 'up']);
      assert.equal((await status())['dhcp-sockets']?.status, 'ok');
    } finally {
      s.child.kill('SIGTERM');
      await s.exited;
      ns.remove();
    }
  },
);

// libvirt driver against virsh's built-in test driver (`test:///default`, the
// only test: URI Kiln accepts, and only with the development setting on), whose
// state lives inside one virsh process: the driver keeps one interactive virsh
// session, so power and boot changes are visible to later calls. The domains
// below are defined into that session (`virsh define` reads the file in the
// test's own runner, never through the driver). What this cannot show: real
// QEMU start-up and guest ACPI shutdown (the test driver changes state immediately).
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import { hasCode } from '../../error/kiln-error.js';
import { runPowerDriverConformance } from '../power-driver.conformance.js';
import { domainBootDevice } from './domain-xml.js';
import { createLibvirtDriver } from './libvirt-driver.js';
import { createVirshSession, type VirshRunner } from './virsh-runner.js';

const skip =
  spawnSync('sh', ['-c', 'command -v virsh']).status === 0
    ? false
    : 'virsh not installed (apt-get install libvirt-clients)';
const dir = mkdtempSync(join(tmpdir(), 'kiln-libvirt-'));
// Two domains for the test driver: MACs and firmware are what enumeration must report.
const domainXml = {
  'node-a': `<domain type='test'><name>node-a</name><uuid>11111111-2222-3333-4444-555555555501</uuid><memory unit='MiB'>2048</memory><vcpu>2</vcpu>
    <os><type arch='x86_64'>hvm</type><boot dev='hd'/></os>
    <devices><interface type='network'><mac address='52:54:00:AA:00:01'/><source network='default'/></interface></devices></domain>`,
  'node-b': `<domain type='test'><name>node-b</name><memory unit='MiB'>1024</memory><vcpu>1</vcpu>
    <os firmware='efi'><type arch='x86_64'>hvm</type><boot dev='network'/></os>
    <devices><interface type='network'><mac address='52:54:00:bb:00:01'/><source network='default'/></interface>
      <interface type='network'><mac address='52:54:00:bb:00:02'/><source network='default'/></interface></devices></domain>`,
};
const uri = 'test:///default';
const dev = { allowTestDriver: true };
after(() => rmSync(dir, { recursive: true, force: true }));

/** A session on test:///default holding node-a and node-b (defined, then started, as a hypervisor's running VMs). */
async function sessionWithDomains(): Promise<VirshRunner> {
  const runner = createVirshSession(uri, { timeoutMs: 10_000 });
  for (const [name, xml] of Object.entries(domainXml)) {
    const file = join(dir, `${name}.xml`);
    writeFileSync(file, xml);
    for (const args of [
      ['define', file],
      ['start', '--domain', name],
    ]) {
      const r = await runner.run(args);
      assert.ok(r.ok, `virsh ${args.join(' ')}: ${r.stderr}`);
    }
  }
  return runner;
}

runPowerDriverConformance({
  name: 'libvirt (virsh test driver, one session)',
  skip,
  setup: async () => {
    // The observer shares the driver's virsh session: the only place this state exists.
    const runner = await sessionWithDomains();
    const driver = createLibvirtDriver(
      { driver: 'libvirt', address: uri, options: { domain: 'node-a' } },
      { runner, ...dev },
    );
    return {
      driver,
      observePower: async () => ((await runner.run(['domstate', 'node-a'])).stdout.trim() === 'running' ? 'on' : 'off'),
      observeBoot: async () => {
        const dev = domainBootDevice((await runner.run(['dumpxml', '--inactive', 'node-a'])).stdout);
        return dev === 'hd' ? 'disk' : dev === 'network' ? 'network' : undefined;
      },
    };
  },
  errorCases: [
    {
      name: 'unknown domain',
      create: () => createLibvirtDriver({ driver: 'libvirt', address: uri, options: { domain: 'nope' } }, dev),
      code: 'bmc_error',
    },
    {
      name: 'unreachable hypervisor',
      create: () =>
        createLibvirtDriver({
          driver: 'libvirt',
          address: 'qemu+tcp://127.0.0.1:1/system',
          options: { domain: 'x', session: false },
        }),
      code: 'bmc_error',
    },
  ],
});

describe('libvirt driver details (virsh test driver)', { skip }, () => {
  it('enumerates every domain with its MACs and firmware', async () => {
    const d = createLibvirtDriver({ driver: 'libvirt', address: uri }, { runner: await sessionWithDomains(), ...dev });
    try {
      const systems = (await d.listSystems()).filter((s) => s.systemId !== 'test'); // test:///default's own domain
      assert.deepEqual(
        systems.map((s) => [s.systemId, s.macs, s.firmware]),
        [
          ['node-a', ['52:54:00:aa:00:01'], 'bios'],
          ['node-b', ['52:54:00:bb:00:01', '52:54:00:bb:00:02'], 'uefi'],
        ],
      );
      assert.equal(systems[0].uuid, '11111111-2222-3333-4444-555555555501');
    } finally {
      await d.close();
    }
  });

  it('a hung virsh session times out with bmc_timeout', async () => {
    // A "virsh" that starts and never answers (exec, so the kill reaches it by PID).
    const fake = join(dir, 'hung-virsh');
    writeFileSync(fake, '#!/bin/sh\nexec sleep 600\n', { mode: 0o755 });
    const hung = createVirshSession(uri, { timeoutMs: 300, virshPath: fake });
    const d = createLibvirtDriver(
      { driver: 'libvirt', address: uri, options: { domain: 'node-a' } },
      { runner: hung, ...dev },
    );
    const t0 = Date.now();
    await assert.rejects(d.powerStatus(), (e) => hasCode(e, 'bmc_timeout'));
    assert.ok(Date.now() - t0 < 20_000, 'the 300 ms timeout fired, not the 600 s sleep');
    await d.close();
  });

  it('needs options.domain for per-machine calls', async () => {
    const d = createLibvirtDriver({ driver: 'libvirt', address: uri }, dev);
    try {
      await assert.rejects(d.powerStatus(), (e) => hasCode(e, 'validation_failed'));
    } finally {
      await d.close();
    }
  });

  it("an unknown domain is a fixed message, not virsh's stderr (which is logged at debug)", async () => {
    const lines: string[] = [];
    const logger = {
      debug: (o: object) => lines.push(JSON.stringify(o)),
      info: () => {},
      warn: () => {},
      error: () => {},
      child: () => logger,
    };
    const d = createLibvirtDriver({ driver: 'libvirt', address: uri, options: { domain: 'nope' } }, { ...dev, logger });
    try {
      await assert.rejects(
        d.powerStatus(),
        (e) =>
          hasCode(e, 'bmc_error') &&
          (e as Error).message === 'libvirt test:///default: virsh domstate failed: no such domain',
      );
      assert.ok(
        lines.some((l) => l.includes('nope')),
        'the raw stderr is in the debug log',
      );
    } finally {
      await d.close();
    }
  });
});

// Boots the discovery image in QEMU (TCG, direct kernel boot) on a tap inside
// a test namespace and checks the facts the real agent posts to a fake node API.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { canUseNetns } from '../../test/support/netns.js';
import { buildDiscoveryImage } from './build-discovery-image.js';
import { startFakeNodeApi } from './fake-node-api.js';
import { createVmNetwork, startVm } from './test-vm.js';

const cacheDir = process.env.KILN_IMAGE_CACHE ?? join(tmpdir(), 'kiln-image-cache');
const skip = !canUseNetns() ? 'needs root for namespaces' : false;

/** The facts this test reads from the agent's report. */
interface ReportedFacts {
  bootMac: string;
  nics: Array<{ mac: string; driver: string; link: string }>;
  cpu: { count: number; model: string };
  memory: { installedBytes: number; totalBytes: number };
  disks: Array<{ name: string; sizeBytes: number }>;
  firmware: string;
  dmi: { vendor: string };
  pci: Array<{ vendor: string; class: string }>;
  bmc: { present: boolean };
}

test('discovery image reports MAC, CPUs, memory and disk to the node API', { skip, timeout: 420_000 }, async (t) => {
  const work = mkdtempSync(join(tmpdir(), 'kiln-disc-'));
  t.after(() => rmSync(work, { recursive: true, force: true }));
  const t0 = Date.now();
  const image = await buildDiscoveryImage({ cacheDir });
  t.diagnostic(`image ${image.version} ready in ${Date.now() - t0} ms (cached: ${image.cached})`);
  const t1 = Date.now();
  const again = await buildDiscoveryImage({ cacheDir });
  assert.equal(again.cached, true, 'a second build with the same inputs comes from the cache');
  assert.equal(again.initrdPath, image.initrdPath);
  t.diagnostic(`cached rebuild: ${Date.now() - t1} ms`);
  const disk = join(work, 'disk.qcow2');
  execFileSync('qemu-img', ['create', '-q', '-f', 'qcow2', disk, '2G']);
  const network = createVmNetwork('disc', work);
  t.after(() => network.stop());
  const api = await startFakeNodeApi({ host: network.hostIp, nextAction: 'wait' });
  t.after(() => api.close());
  const mac = '52:54:00:4b:11:07';
  const serialLog = join(work, 'serial.log');
  const bootStart = Date.now();
  const vm = startVm({
    network,
    mac,
    disk,
    serialLog,
    firmware: 'bios',
    workDir: work,
    kernel: image.kernelPath,
    initrd: image.initrdPath,
    append: `console=ttyS0 kiln.url=${api.url} kiln.mode=discover kiln.poll=2 BOOTIF=01-${mac.replaceAll(':', '-')}`,
  });
  t.after(() => vm.stop());
  try {
    const report = await api.waitFor((c) => c.path === '/api/v1/node/discover', 300_000);
    t.diagnostic(`boot to discover report: ${Date.now() - bootStart} ms`);
    const facts = (report.body as { facts: ReportedFacts }).facts;
    t.diagnostic(JSON.stringify({ ...facts, pci: facts.pci.length }));
    assert.equal(facts.bootMac, mac);
    const nic = facts.nics.find((n) => n.mac === mac);
    assert.ok(nic, `a NIC with ${mac} in ${JSON.stringify(facts.nics)}`);
    assert.equal(nic.driver, 'virtio_net');
    assert.equal(nic.link, 'up');
    assert.equal(facts.cpu.count, 2);
    assert.match(facts.cpu.model, /QEMU|CPU/);
    assert.equal(facts.memory.installedBytes, 768 * 1024 * 1024);
    assert.ok(facts.memory.totalBytes > 600 * 1024 * 1024 && facts.memory.totalBytes <= 768 * 1024 * 1024);
    const vda = facts.disks.find((d) => d.name === 'vda');
    assert.ok(vda, JSON.stringify(facts.disks));
    assert.equal(vda.sizeBytes, 2 * 1024 ** 3);
    assert.equal(facts.firmware, 'bios');
    assert.equal(facts.dmi.vendor, 'QEMU');
    assert.ok(
      facts.pci.some((p) => p.vendor === '1af4' && p.class === '020000'),
      'virtio NIC in the PCI list',
    );
    assert.equal(facts.bmc.present, false);
    // The agent keeps the credential and polls /next with it; "poweroff" ends the VM.
    await api.waitFor((c) => c.path === '/api/v1/node/next' && c.authorization === `Bearer ${api.credential}`, 60_000);
    api.setNextAction('poweroff');
    const code = await Promise.race([
      vm.exited,
      new Promise<string>((r) => setTimeout(() => r('timeout'), 60_000).unref()),
    ]);
    assert.equal(code, 0, 'the guest powered itself off when told');
    t.diagnostic(`boot to poweroff: ${Date.now() - bootStart} ms`);
  } catch (err) {
    t.diagnostic(readFileSync(serialLog, 'utf8').slice(-3000));
    throw err;
  }
});

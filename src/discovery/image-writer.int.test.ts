// The image writer end to end under QEMU (TCG): install mode writes the CI test
// image to an empty disk through the fake node API, then the disk boots on its
// own (no -kernel) under SeaBIOS and under OVMF, and the installed system's
// first-boot callback reaches the API with the node credential.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, copyFileSync as copy } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { canUseNetns } from '../../test/support/netns.js';
import { buildDiscoveryImage } from './build-discovery-image.js';
import { buildTestImage } from './build-test-image.js';
import { startFakeNodeApi, type FakeNodeApi } from './fake-node-api.js';
import { createVmNetwork, startVm, type VmNetwork } from './test-vm.js';

const cacheDir = process.env.KILN_IMAGE_CACHE ?? join(tmpdir(), 'kiln-image-cache');
const skip = !canUseNetns() ? 'needs root for namespaces' : false;
const mac = '52:54:00:4b:22:09';

function timeout(ms: number): Promise<'timeout'> {
  return new Promise((r) => setTimeout(() => r('timeout'), ms).unref());
}

async function bootFromDisk(t: { diagnostic(m: string): void; after(f: () => void): void }, api: FakeNodeApi, network: VmNetwork, work: string, disk: string, firmware: 'bios' | 'uefi'): Promise<void> {
  const serialLog = join(work, `serial-${firmware}.log`);
  const start = Date.now();
  const vm = startVm({ network, mac, disk, serialLog, firmware, workDir: work });
  t.after(() => vm.stop());
  try {
    const called = api.waitFor((c) => c.path === '/api/v1/node/complete' && c.at >= start, 300_000);
    const done = await Promise.race([called, vm.exited.then((code) => { throw new Error(`QEMU exited (${code}) before the first-boot callback`); })]);
    t.diagnostic(`${firmware}: power-on to first-boot callback ${Date.now() - start} ms`);
    assert.equal(done.authorization, `Bearer ${api.credential}`);
    assert.deepEqual(done.body, { ok: true, stage: 'firstboot' });
    const log = readFileSync(serialLog, 'utf8');
    assert.match(log, /kiln-test-image: booted from disk as node-7/);
    assert.match(log, /initrd: root is \/dev\/vda3/);
  } catch (err) {
    t.diagnostic(readFileSync(serialLog, 'utf8').slice(-3000));
    throw err;
  } finally {
    vm.stop();
    await Promise.race([vm.exited, timeout(10_000)]);
  }
}

test('image writer installs the test image; the disk boots under SeaBIOS and OVMF and calls home', { skip, timeout: 1_200_000 }, async (t) => {
  const work = mkdtempSync(join(tmpdir(), 'kiln-inst-'));
  t.after(() => rmSync(work, { recursive: true, force: true }));
  let t0 = Date.now();
  const image = await buildDiscoveryImage({ cacheDir });
  const rootfs = await buildTestImage({ cacheDir });
  t.diagnostic(`images ready in ${Date.now() - t0} ms (test image ${rootfs.sizeBytes} bytes)`);
  const disk = join(work, 'disk.qcow2');
  execFileSync('qemu-img', ['create', '-q', '-f', 'qcow2', disk, '2G']);
  const network = createVmNetwork('inst', work);
  t.after(() => network.stop());
  const api = await startFakeNodeApi({
    host: network.hostIp,
    files: { '/images/test.tar.gz': rootfs.tarPath },
    installPlan: (url) => ({
      image: { url: `${url}/images/test.tar.gz`, sha256: rootfs.sha256, format: rootfs.format },
      disk: 'auto', firmware: 'bios', hostname: 'node-7', network: { mode: 'dhcp' },
    }),
  });
  t.after(() => api.close());

  await t.test('install mode writes the disk and reboots', async () => {
    const serialLog = join(work, 'serial-install.log');
    t0 = Date.now();
    const vm = startVm({
      network, mac, disk, serialLog, firmware: 'bios', workDir: work, kernel: image.kernelPath, initrd: image.initrdPath,
      append: `console=ttyS0 kiln.url=${api.url} kiln.mode=install BOOTIF=01-${mac.replaceAll(':', '-')}`,
    });
    t.after(() => vm.stop());
    try {
      const failed = api.waitFor((c) => c.path === '/api/v1/node/failed', 360_000).then((c) => `failed: ${JSON.stringify(c.body)}`, () => 'timeout');
      const code = await Promise.race([vm.exited, failed]);
      t.diagnostic(`install boot to reboot: ${Date.now() - t0} ms`);
      assert.equal(code, 0, 'the writer rebooted (QEMU -no-reboot exits)');
      assert.equal(api.calls.find((c) => c.path === '/api/v1/node/failed'), undefined, 'no failure reported');
      const enrol = api.calls.find((c) => c.path === '/api/v1/node/enrol');
      assert.deepEqual(enrol?.body, { mac });
      const stages = api.calls.filter((c) => c.path === '/api/v1/node/progress').map((c) => (c.body as { stage: string }).stage);
      assert.deepEqual(stages, ['plan', 'partition', 'mkfs', 'image', 'bootloader', 'config', 'finish', 'installed']);
      assert.ok(api.calls.filter((c) => c.path === '/api/v1/node/progress').every((c) => c.authorization === `Bearer ${api.credential}`));
      assert.ok(api.calls.some((c) => c.path === '/images/test.tar.gz'), 'image fetched');
    } catch (err) {
      t.diagnostic(readFileSync(serialLog, 'utf8').slice(-4000));
      throw err;
    } finally {
      vm.stop();
    }
  });

  const biosDisk = join(work, 'disk-bios.qcow2');
  const uefiDisk = join(work, 'disk-uefi.qcow2');
  copy(disk, biosDisk);
  copy(disk, uefiDisk);
  await t.test('SeaBIOS boots the written disk', () => bootFromDisk(t, api, network, work, biosDisk, 'bios'));
  await t.test('OVMF boots the written disk', () => bootFromDisk(t, api, network, work, uefiDisk, 'uefi'));

  await t.test('a digest mismatch is reported as a failed image stage', async () => {
    const bad = await startFakeNodeApi({
      host: network.hostIp,
      files: { '/images/test.tar.gz': rootfs.tarPath },
      installPlan: (url) => ({ image: { url: `${url}/images/test.tar.gz`, sha256: '0'.repeat(64), format: 'tar.gz' }, disk: '/dev/vda', firmware: 'uefi', hostname: 'node-8', network: { mode: 'dhcp' } }),
    });
    t.after(() => bad.close());
    const serialLog = join(work, 'serial-bad.log');
    const vm = startVm({
      network, mac, disk: biosDisk, serialLog, firmware: 'bios', workDir: work, kernel: image.kernelPath, initrd: image.initrdPath,
      append: `console=ttyS0 kiln.url=${bad.url} kiln.mode=install BOOTIF=01-${mac.replaceAll(':', '-')}`,
    });
    t.after(() => vm.stop());
    try {
      const failed = await bad.waitFor((c) => c.path === '/api/v1/node/failed', 300_000);
      assert.equal(failed.authorization, `Bearer ${bad.credential}`);
      const body = failed.body as { stage: string; reason: string };
      assert.equal(body.stage, 'image');
      assert.match(body.reason, /sha256 mismatch: got [0-9a-f]{64} want 0{64}/);
      assert.equal(bad.calls.some((c) => (c.body as { stage?: string } | undefined)?.stage === 'bootloader'), false, 'stopped at the failing stage');
    } catch (err) {
      t.diagnostic(readFileSync(serialLog, 'utf8').slice(-3000));
      throw err;
    } finally {
      vm.stop();
      await Promise.race([vm.exited, timeout(10_000)]);
    }
  });
});

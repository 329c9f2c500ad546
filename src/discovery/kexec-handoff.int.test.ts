// The image writer's kexec hand-off end to end under QEMU (TCG; KVM with
// KILN_QEMU_ACCEL=kvm): install mode writes the CI test image with
// plan.handoff "kexec", reports `installed` with handoff "kexec", and jumps
// into the installed kernel without the firmware: the same QEMU process
// (started with -no-reboot, so a firmware reboot would end it) boots the
// installed system, whose first-boot callback reaches the fake node API.
// For comparison, the same VM (same disk, memory, CPUs) then boots the
// written disk through its firmware; that power-on-to-callback time is what a
// firmware reboot costs, printed beside the kexec figure, not asserted.
// KILN_KEXEC_FIRMWARES="bios uefi" also runs the pair under OVMF (default: bios).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { canUseNetns } from '../../test/support/netns.js';
import { buildDiscoveryImage } from './build-discovery-image.js';
import { buildTestImage } from './build-test-image.js';
import { startFakeNodeApi, type NodeApiCall } from './fake-node-api.js';
import { loadTrust } from '../trust/load-trust.js';
import { hashPassword } from '../trust/password/sha512-crypt.js';
import { signHostCertificate } from '../trust/ssh/ssh-certificate.js';
import { makeRootKey } from './ssh-probe.js';
import { createVmNetwork, startVm } from './test-vm.js';

const cacheDir = process.env.KILN_IMAGE_CACHE ?? join(tmpdir(), 'kiln-image-cache');
const skip = !canUseNetns() ? 'needs root for namespaces' : false;
const mac = '52:54:00:4b:42:16';
const firmwares = (process.env.KILN_KEXEC_FIRMWARES ?? 'bios')
  .split(/\s+/)
  .filter((f): f is 'bios' | 'uefi' => f === 'bios' || f === 'uefi');

/** Rejects when the guest's serial log shows a kernel panic (the guest then hangs: no reason to wait minutes). */
async function panicIn(serialLog: string, stop: { done: boolean }): Promise<never> {
  for (let i = 0; i < 900 && !stop.done; i++) {
    await timeout(1000);
    let text = '';
    try {
      text = readFileSync(serialLog, 'utf8');
    } catch {
      // not written yet
    }
    if (/Kernel panic/.test(text)) throw new Error('the guest kernel panicked (serial log below)');
  }
  return new Promise<never>(() => undefined);
}

function timeout(ms: number): Promise<'timeout'> {
  return new Promise((r) => setTimeout(() => r('timeout'), ms).unref());
}

const seconds = (ms: number) => `${(ms / 1000).toFixed(1)} s`;

for (const firmware of firmwares) {
  test(
    `${firmware}: the writer kexecs the installed kernel; the installed system calls back without a firmware reboot`,
    { skip, timeout: 900_000 },
    async (t) => {
      const work = mkdtempSync(join(tmpdir(), 'kiln-kexec-'));
      t.after(() => rmSync(work, { recursive: true, force: true }));
      const image = await buildDiscoveryImage({ cacheDir });
      const rootfs = await buildTestImage({ cacheDir });
      const disk = join(work, 'disk.qcow2');
      execFileSync('qemu-img', ['create', '-q', '-f', 'qcow2', disk, '2G']);
      // The brief's subnet (10.42.0.0/16): one /24 per firmware.
      const network = createVmNetwork('kx', work, `10.42.${firmware === 'bios' ? 16 : 17}`);
      t.after(() => network.stop());
      // The late step's peer (it runs for every image install): HTTPS with a Kiln TLS CA certificate for the fake's
      // address, Kiln's SSH CA signing the node's host key.
      const trust = await loadTrust({
        dataDir: join(work, 'kiln'),
        server: { kind: 'issue', dnsNames: [], ipAddresses: [network.hostIp] },
      });
      let serial = 1;
      const api = await startFakeNodeApi({
        host: network.hostIp,
        files: { '/images/test.tar.gz': rootfs.tarPath },
        tls: { certPem: trust.server.certPem, keyPem: trust.server.keyPem },
        secrets: {
          rootPasswordHash: hashPassword('kiln test root password'),
          authorizedKeys: [makeRootKey(work).publicLine],
        },
        signHostKey: (line, ip) =>
          signHostCertificate({
            ca: trust.sshCa,
            publicKeyLine: line,
            principals: ['node-7', ip],
            validAfter: new Date(Date.now() - 300_000),
            validBefore: new Date(Date.now() + 86_400_000),
            serial: serial++,
            keyId: 'host:node-7',
          }),
        installPlan: (url, apiUrl) => ({
          image: { url: `${url}/images/test.tar.gz`, sha256: rootfs.sha256, format: rootfs.format },
          disk: 'auto',
          firmware,
          layout: 'single',
          hostname: 'node-7',
          network: { mode: 'dhcp' },
          // TCG on a loaded 2-core host: the kernel's IO-APIC timer check failed and it panicked (this test's first
          // run). Both boots of the installed system (kexec and firmware) get the same command line from grub.cfg's entry.
          kernelArgs: 'no_timer_check',
          handoff: 'kexec',
          api: { url: apiUrl, caPem: trust.tlsCa.certPem },
        }),
      });
      t.after(() => api.close());

      const serialLog = join(work, 'serial-install.log');
      const t0 = Date.now();
      const vm = startVm({
        network,
        mac,
        disk,
        serialLog,
        firmware,
        workDir: work,
        kernel: image.kernelPath,
        initrd: image.initrdPath,
        append: `console=ttyS0 no_timer_check kiln.url=${api.url} kiln.mode=install BOOTIF=01-${mac.replaceAll(':', '-')}`,
      });
      t.after(() => vm.stop());
      const watching = { done: false };
      t.after(() => (watching.done = true));
      let installed: NodeApiCall;
      let complete: NodeApiCall;
      let beat: NodeApiCall;
      let exited = false;
      void vm.exited.then(() => (exited = true));
      try {
        const ended = vm.exited.then((code) => {
          throw new Error(`QEMU exited (${code}): the writer rebooted or stopped instead of kexec`);
        });
        const failed = api
          .waitFor((c) => c.path === '/api/v1/node/failed', 600_000)
          .then(
            (c) => {
              throw new Error(`the writer failed: ${JSON.stringify(c.body)}`);
            },
            () => undefined,
          );
        complete = await Promise.race([
          api.waitFor((c) => c.path === '/api/v1/node/complete', 600_000),
          ended,
          failed.then(() => Promise.reject(new Error('no callback'))),
          panicIn(serialLog, watching),
        ]);
        installed = api.calls.find(
          (c) => c.path === '/api/v1/node/progress' && (c.body as { stage: string }).stage === 'installed',
        )!;
        assert.ok(installed, 'the writer reported installed');
        assert.deepEqual(installed.body, {
          stage: 'installed',
          message: 'installation finished; starting the installed kernel with kexec',
          handoff: 'kexec',
        });
        const finish = api.calls.find(
          (c) => c.path === '/api/v1/node/progress' && (c.body as { stage: string }).stage === 'finish',
        );
        assert.equal(
          (finish?.body as { message: string }).message,
          'unmounted; the installed kernel is loaded for kexec',
        );
        assert.equal(complete.authorization, `Bearer ${api.credential}`);
        assert.deepEqual(complete.body, { ok: true, stage: 'firstboot' });
        beat = await api.waitFor((c) => c.path === '/api/v1/node/heartbeat', 120_000);
        assert.equal(exited, false, 'the same QEMU process (-no-reboot) is still running: no firmware reboot');
        const log = readFileSync(serialLog, 'utf8');
        assert.match(log, /kiln-test-image: booted from disk as node-7/);
        assert.match(log, /initrd: root is \/dev\/vda3/);
        assert.equal(
          log.match(/Linux version /g)?.length,
          2,
          'two kernels started in one power-on: the writer, then the installed one',
        );
        t.diagnostic(
          `${firmware} kexec: power-on to installed ${seconds(installed.at - t0)}; installed to first-boot callback ` +
            `${seconds(complete.at - installed.at)}, to first heartbeat ${seconds(beat.at - installed.at)}`,
        );
      } catch (err) {
        t.diagnostic(readFileSync(serialLog, 'utf8').slice(-4000));
        throw err;
      } finally {
        vm.stop();
        await Promise.race([vm.exited, timeout(10_000)]);
      }

      // The firmware path on the same VM and disk, for the figure beside kexec's (printed, not asserted). The
      // first-boot callback ran once already (it stays quiet after), so both figures end at the first heartbeat.
      const rebootLog = join(work, 'serial-reboot.log');
      const t1 = Date.now();
      const again = startVm({ network, mac, disk, serialLog: rebootLog, firmware, workDir: work });
      t.after(() => again.stop());
      try {
        const second = await Promise.race([
          api.waitFor((c) => c.path === '/api/v1/node/heartbeat' && c.at >= t1, 300_000),
          panicIn(rebootLog, watching),
          again.exited.then((code) => {
            throw new Error(`QEMU exited (${code}) before the first heartbeat`);
          }),
        ]);
        t.diagnostic(
          `${firmware} firmware boot of the same disk: power-on to first heartbeat ${seconds(second.at - t1)} ` +
            `(kexec: installed to first heartbeat ${seconds(beat.at - installed.at)})`,
        );
      } catch (err) {
        t.diagnostic(readFileSync(rebootLog, 'utf8').slice(-3000));
        throw err;
      } finally {
        again.stop();
        await Promise.race([again.exited, timeout(10_000)]);
      }
    },
  );
}

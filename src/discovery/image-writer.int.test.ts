// The image writer end to end under QEMU (TCG; KVM with KILN_QEMU_ACCEL=kvm): install
// mode writes the CI test image to an empty disk through the fake node API
// (its late step over HTTPS, verified against a Kiln TLS CA), then the disk
// boots on its own (no -kernel) under SeaBIOS and under OVMF, and the
// installed system's first-boot callback reaches the API with the node
// credential. On the SeaBIOS boot, Debian's ssh client, trusting only the
// Kiln SSH CA's @cert-authority line, logs in as root with the key that was
// set as authorized and reads back root's hash from /etc/shadow.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, copyFileSync as copy } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { canUseNetns } from '../../test/support/netns.js';
import { loadTrust, type Trust } from '../trust/load-trust.js';
import { hashPassword } from '../trust/password/sha512-crypt.js';
import { formatCertAuthorityLine } from '../trust/ssh/ssh-ca.js';
import { signHostCertificate } from '../trust/ssh/ssh-certificate.js';
import { buildDiscoveryImage } from './build-discovery-image.js';
import { buildTestImage } from './build-test-image.js';
import { startFakeNodeApi, type FakeNodeApi } from './fake-node-api.js';
import { makeRootKey, sshProbe } from './ssh-probe.js';
import { createVmNetwork, startVm, type VmNetwork } from './test-vm.js';

const cacheDir = process.env.KILN_IMAGE_CACHE ?? join(tmpdir(), 'kiln-image-cache');
const skip = !canUseNetns() ? 'needs root for namespaces' : false;
const mac = '52:54:00:4b:22:09';

function timeout(ms: number): Promise<'timeout'> {
  return new Promise((r) => setTimeout(() => r('timeout'), ms).unref());
}

/** What the late step was given, to check on the installed VM. */
interface LateCheck {
  trust: Trust;
  other: Trust;
  rootKey: { path: string; publicLine: string };
  hash: string;
}

async function bootFromDisk(
  t: { diagnostic(m: string): void; after(f: () => void): void },
  api: FakeNodeApi,
  network: VmNetwork,
  work: string,
  disk: string,
  firmware: 'bios' | 'uefi',
  late?: LateCheck,
): Promise<void> {
  const serialLog = join(work, `serial-${firmware}.log`);
  const start = Date.now();
  const vm = startVm({ network, mac, disk, serialLog, firmware, workDir: work });
  t.after(() => vm.stop());
  try {
    const called = api.waitFor((c) => c.path === '/api/v1/node/complete' && c.at >= start, 300_000);
    const done = await Promise.race([
      called,
      vm.exited.then((code) => {
        throw new Error(`QEMU exited (${code}) before the first-boot callback`);
      }),
    ]);
    t.diagnostic(`${firmware}: power-on to first-boot callback ${Date.now() - start} ms`);
    assert.equal(done.authorization, `Bearer ${api.credential}`);
    assert.deepEqual(done.body, { ok: true, stage: 'firstboot' });
    const log = readFileSync(serialLog, 'utf8');
    assert.match(log, /kiln-test-image: booted from disk as node-7/);
    assert.match(log, /initrd: root is \/dev\/vda3/);
    assert.match(log, /kiln-test-image: sshd listening after \d+s/);
    if (late) {
      const t1 = Date.now();
      const probe = (name: string, ca: Trust) =>
        sshProbe({
          dir: work,
          name,
          ip: done.ip.replace(/^::ffff:/, ''),
          key: late.rootKey.path,
          knownHostsLine: formatCertAuthorityLine(ca.sshCa.publicKey, '*'),
          command: 'cat /etc/shadow; echo ---; cat /root/.ssh/authorized_keys',
        });
      const r = await probe('kiln', late.trust);
      assert.equal(r.code, 0, `ssh with only Kiln's @cert-authority line: ${r.stderr.slice(-1500)}`);
      assert.match(
        r.hostCertificate ?? '',
        new RegExp(
          `^ssh-ed25519-cert-v01@openssh.com SHA256:\\S+, serial \\d+ ID "host:node-7" CA ssh-ed25519 ${late.trust.sshCa.fingerprint.replace(/[+/]/g, '\\$&')} `,
        ),
      );
      const [shadow, keys] = r.stdout.split('---\n');
      assert.equal(
        shadow
          .split('\n')
          .find((l) => l.startsWith('root:'))
          ?.split(':')[1],
        late.hash,
        "root's hash in /etc/shadow is the one set",
      );
      assert.equal(keys, `${late.rootKey.publicLine}\n`, 'authorized_keys holds exactly the key set');
      // Control: the same sshd is not trusted through another CA's line.
      const other = await probe('other', late.other);
      assert.notEqual(other.code, 0);
      assert.match(other.stderr, /Host key verification failed/);
      t.diagnostic(`${firmware}: two ssh logins (Kiln CA, other CA) ${Date.now() - t1} ms`);
    }
  } catch (err) {
    t.diagnostic(readFileSync(serialLog, 'utf8').slice(-3000));
    throw err;
  } finally {
    vm.stop();
    await Promise.race([vm.exited, timeout(10_000)]);
  }
}

test(
  'image writer installs the test image; the disk boots under SeaBIOS and OVMF and calls home',
  { skip, timeout: 1_200_000 },
  async (t) => {
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
    // The late step's peer: HTTPS with a Kiln TLS CA certificate for the fake's address, Kiln's SSH CA signing.
    const names = { dnsNames: [], ipAddresses: [network.hostIp] };
    const trust = await loadTrust({ dataDir: join(work, 'kiln'), server: { kind: 'issue', ...names } });
    const late: LateCheck = {
      trust,
      other: await loadTrust({ dataDir: join(work, 'other'), server: { kind: 'issue', ...names } }),
      rootKey: makeRootKey(work),
      hash: hashPassword('kiln test root password'),
    };
    let serial = 1;
    const api = await startFakeNodeApi({
      host: network.hostIp,
      files: { '/images/test.tar.gz': rootfs.tarPath },
      tls: { certPem: trust.server.certPem, keyPem: trust.server.keyPem },
      secrets: { rootPasswordHash: late.hash, authorizedKeys: [late.rootKey.publicLine] },
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
        firmware: 'bios',
        layout: 'single',
        hostname: 'node-7',
        network: { mode: 'dhcp' },
        api: { url: apiUrl, caPem: trust.tlsCa.certPem },
      }),
    });
    t.after(() => api.close());

    await t.test('install mode writes the disk and reboots', async () => {
      const serialLog = join(work, 'serial-install.log');
      t0 = Date.now();
      const vm = startVm({
        network,
        mac,
        disk,
        serialLog,
        firmware: 'bios',
        workDir: work,
        kernel: image.kernelPath,
        initrd: image.initrdPath,
        append: `console=ttyS0 kiln.url=${api.url} kiln.mode=install BOOTIF=01-${mac.replaceAll(':', '-')}`,
      });
      t.after(() => vm.stop());
      try {
        const failed = api
          .waitFor((c) => c.path === '/api/v1/node/failed', 360_000)
          .then(
            (c) => `failed: ${JSON.stringify(c.body)}`,
            () => 'timeout',
          );
        // The installer's status page (node/agent/status.sh) answers while the writer works.
        const page = (async () => {
          const first = await api.waitFor((c) => c.path === '/api/v1/node/progress', 360_000).catch(() => null);
          if (!first) return null;
          const url = `http://${first.ip.replace(/^::ffff:/, '')}:6978/status.json`;
          for (let i = 0; i < 240; i++) {
            try {
              const r = await fetch(url, { signal: AbortSignal.timeout(2000) });
              if (r.ok) return { url, ms: Date.now() - t0, text: await r.text() };
            } catch {
              // not serving yet
            }
            await timeout(250);
          }
          return null;
        })();
        const code = await Promise.race([vm.exited, failed]);
        t.diagnostic(`install boot to reboot: ${Date.now() - t0} ms`);
        const seen = await page;
        assert.ok(seen, 'the status page answered during the install');
        t.diagnostic(
          `status page at ${seen.url} answered ${seen.ms} ms after the VM started: ${seen.text.slice(0, 200)}`,
        );
        const status = JSON.parse(seen.text) as { stage: string; state: string; steps: number };
        assert.equal(status.state, 'running');
        assert.equal(status.steps, 14);
        assert.ok(!seen.text.includes(api.credential), 'no credential on the status page');
        assert.equal(code, 0, 'the writer rebooted (QEMU -no-reboot exits)');
        assert.equal(
          api.calls.find((c) => c.path === '/api/v1/node/failed'),
          undefined,
          'no failure reported',
        );
        const enrol = api.calls.find((c) => c.path === '/api/v1/node/enrol');
        const { enrolSecret, ...enrolled } = (enrol?.body ?? {}) as { enrolSecret?: string };
        assert.deepEqual(enrolled, { mac });
        assert.match(
          enrolSecret ?? '',
          /^ke_[0-9a-f]{64}$/,
          "the boot's enrolment secret, for a retry whose answer is lost",
        );
        const stages = api.calls
          .filter((c) => c.path === '/api/v1/node/progress')
          .map((c) => (c.body as { stage: string }).stage);
        assert.deepEqual(stages, [
          'clock',
          'plan',
          'objects',
          'partition',
          'mkfs',
          'image',
          'bootloader',
          'config',
          'network',
          'secrets',
          'hostcert',
          'syslog',
          'finish',
          'installed',
        ]);
        // The late step: over HTTPS with the credential; only a public key went out.
        const lateCalls = api.calls.filter(
          (c) => c.path === '/api/v1/node/secrets' || c.path === '/api/v1/node/ssh/host-certificates',
        );
        assert.deepEqual(
          lateCalls.map((c) => [c.method, c.path, c.tls, c.authorization]),
          [
            ['GET', '/api/v1/node/secrets', true, `Bearer ${api.credential}`],
            ['POST', '/api/v1/node/ssh/host-certificates', true, `Bearer ${api.credential}`],
          ],
        );
        assert.match(lateCalls[1].text, /^ssh-ed25519 AAAA\S+ root@node-7\n$/);
        const at = (stage: string) =>
          api.calls.find((c) => c.path === '/api/v1/node/progress' && (c.body as { stage: string }).stage === stage)!
            .at;
        t.diagnostic(`late step (secrets + hostcert stages): ${at('finish') - at('secrets')} ms`);
        assert.ok(
          api.calls
            .filter((c) => c.path === '/api/v1/node/progress')
            .every((c) => c.authorization === `Bearer ${api.credential}`),
        );
        assert.ok(
          api.calls.some((c) => c.path === '/images/test.tar.gz'),
          'image fetched',
        );
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
    await t.test(
      "SeaBIOS boots the written disk; ssh trusts its Kiln host certificate; root's hash and keys are the ones set",
      () => bootFromDisk(t, api, network, work, biosDisk, 'bios', late),
    );
    await t.test('OVMF boots the written disk', () => bootFromDisk(t, api, network, work, uefiDisk, 'uefi'));

    await t.test('a digest mismatch is reported as a failed image stage', async () => {
      const bad = await startFakeNodeApi({
        host: network.hostIp,
        files: { '/images/test.tar.gz': rootfs.tarPath },
        installPlan: (url) => ({
          image: { url: `${url}/images/test.tar.gz`, sha256: '0'.repeat(64), format: 'tar.gz' },
          disk: '/dev/vda',
          firmware: 'uefi',
          layout: 'single',
          hostname: 'node-8',
          network: { mode: 'dhcp' },
        }),
      });
      t.after(() => bad.close());
      const serialLog = join(work, 'serial-bad.log');
      const vm = startVm({
        network,
        mac,
        disk: biosDisk,
        serialLog,
        firmware: 'bios',
        workDir: work,
        kernel: image.kernelPath,
        initrd: image.initrdPath,
        append: `console=ttyS0 kiln.url=${bad.url} kiln.mode=install BOOTIF=01-${mac.replaceAll(':', '-')}`,
      });
      t.after(() => vm.stop());
      try {
        const failed = await bad.waitFor((c) => c.path === '/api/v1/node/failed', 300_000);
        assert.equal(failed.authorization, `Bearer ${bad.credential}`);
        const body = failed.body as { stage: string; reason: string };
        assert.equal(body.stage, 'image');
        assert.match(body.reason, /sha256 mismatch: got [0-9a-f]{64} want 0{64}/);
        assert.equal(
          bad.calls.some((c) => (c.body as { stage?: string } | undefined)?.stage === 'bootloader'),
          false,
          'stopped at the failing stage',
        );
      } catch (err) {
        t.diagnostic(readFileSync(serialLog, 'utf8').slice(-3000));
        throw err;
      } finally {
        vm.stop();
        await Promise.race([vm.exited, timeout(10_000)]);
      }
    });
  },
);

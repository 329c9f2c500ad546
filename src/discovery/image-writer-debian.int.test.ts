// The image writer with a real Debian 12 root (the measured case: mmdebstrap
// minbase with the kernel, systemd, udev, openssh-server, ifupdown and
// isc-dhcp-client; systemd-networkd installed but not enabled; no curl or
// wget). Runs only when KILN_WRITER_DEBIAN_IMAGE names such a tarball
// (scripts/writer-debian-e2e.sh builds one and runs this file): minutes, not
// part of CI. The writer must write ifupdown's configuration bound to the boot
// NIC's MAC; the disk boots under SeaBIOS, the installed system gets an
// address on its NIC (named ens3 by udev, not eth0) and calls back; ssh with
// only Kiln's @cert-authority line logs in.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { execFileSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { canUseNetns } from '../../test/support/netns.js';
import { loadTrust } from '../trust/load-trust.js';
import { formatCertAuthorityLine } from '../trust/ssh/ssh-ca.js';
import { signHostCertificate } from '../trust/ssh/ssh-certificate.js';
import { buildDiscoveryImage } from './build-discovery-image.js';
import { startFakeNodeApi } from './fake-node-api.js';
import { makeRootKey, sshProbe } from './ssh-probe.js';
import { createVmNetwork, startVm } from './test-vm.js';

const image = process.env['KILN_WRITER_DEBIAN_IMAGE'] ?? '';
const cacheDir = process.env['KILN_IMAGE_CACHE'] ?? join(tmpdir(), 'kiln-image-cache');
const skip = !image
  ? 'set KILN_WRITER_DEBIAN_IMAGE to a Debian root tarball (scripts/writer-debian-e2e.sh)'
  : !existsSync(image)
    ? `no file ${image}`
    : !canUseNetns()
      ? 'needs root for namespaces'
      : false;
const mac = '52:54:00:4b:22:0b';

function sha256File(path: string): string {
  return createHash('sha256').update(readFileSync(path)).digest('hex');
}

test(
  'image writer: a real Debian 12 ifupdown root is configured for the NIC it really has and calls back',
  { skip, timeout: 1_800_000 },
  async (t) => {
    const work = mkdtempSync(join(tmpdir(), 'kiln-deb-'));
    t.after(() => rmSync(work, { recursive: true, force: true }));
    const writer = await buildDiscoveryImage({ cacheDir });
    const format = image.endsWith('.tar.zst') ? 'tar.zst' : 'tar.gz';
    const disk = join(work, 'disk.qcow2');
    execFileSync('qemu-img', ['create', '-q', '-f', 'qcow2', disk, '4G']);
    const network = createVmNetwork('deb', work);
    t.after(() => network.stop());
    const names = { dnsNames: [], ipAddresses: [network.hostIp] };
    const trust = await loadTrust({ dataDir: join(work, 'kiln'), server: { kind: 'issue', ...names } });
    const rootKey = makeRootKey(work);
    let serial = 1;
    const api = await startFakeNodeApi({
      host: network.hostIp,
      files: { [`/images/debian.${format}`]: image },
      tls: { certPem: trust.server.certPem, keyPem: trust.server.keyPem },
      secrets: { rootPasswordHash: null, authorizedKeys: [rootKey.publicLine] },
      signHostKey: (line, ip) =>
        signHostCertificate({
          ca: trust.sshCa,
          publicKeyLine: line,
          principals: ['node-9', ip],
          validAfter: new Date(Date.now() - 300_000),
          validBefore: new Date(Date.now() + 86_400_000),
          serial: serial++,
          keyId: 'host:node-9',
        }),
      installPlan: (url, apiUrl) => ({
        image: { url: `${url}/images/debian.${format}`, sha256: sha256File(image), format },
        disk: 'auto',
        firmware: 'bios',
        layout: 'single',
        hostname: 'node-9',
        network: { mode: 'dhcp' },
        api: { url: apiUrl, caPem: trust.tlsCa.certPem },
      }),
    });
    t.after(() => api.close());

    const installLog = join(work, 'serial-install.log');
    let t0 = Date.now();
    const installer = startVm({
      network,
      mac,
      disk,
      serialLog: installLog,
      firmware: 'bios',
      workDir: work,
      memoryMiB: 1024,
      kernel: writer.kernelPath,
      initrd: writer.initrdPath,
      append: `console=ttyS0 kiln.url=${api.url} kiln.mode=install BOOTIF=01-${mac.replaceAll(':', '-')}`,
    });
    t.after(() => installer.stop());
    try {
      const code = await Promise.race([
        installer.exited,
        api
          .waitFor((c) => c.path === '/api/v1/node/failed', 1_200_000)
          .then((c) => `failed: ${JSON.stringify(c.body)}`),
      ]);
      t.diagnostic(`install (clock, plan, write, config, late step): ${Date.now() - t0} ms`);
      assert.equal(code, 0, 'the writer rebooted');
    } catch (err) {
      t.diagnostic(readFileSync(installLog, 'utf8').slice(-4000));
      throw err;
    } finally {
      installer.stop();
    }
    const told = (stage: string) =>
      api.calls
        .filter((c) => c.path === '/api/v1/node/progress' && (c.body as { stage: string }).stage === stage)
        .map((c) => (c.body as { message: string }).message);
    t.diagnostic(`clock: ${told('clock').join(' | ')}`);
    t.diagnostic(`network: ${told('network').join(' | ')}`);
    assert.deepEqual(told('network'), [`network: ifupdown, kiln-boot = the NIC with MAC ${mac} (dhcp)`]);
    assert.match(told('clock')[0] ?? '', /^clock set from the controller to /);

    const bootLog = join(work, 'serial-boot.log');
    t0 = Date.now();
    const vm = startVm({ network, mac, disk, serialLog: bootLog, firmware: 'bios', workDir: work, memoryMiB: 1024 });
    t.after(() => vm.stop());
    try {
      const done = await Promise.race([
        api.waitFor((c) => c.path === '/api/v1/node/complete', 900_000),
        vm.exited.then((c) => {
          throw new Error(`QEMU exited (${c}) before the first-boot callback`);
        }),
      ]);
      t.diagnostic(`power-on to first-boot callback: ${Date.now() - t0} ms`);
      assert.equal(done.authorization, `Bearer ${api.credential}`);
      const r = await sshProbe({
        dir: work,
        name: 'kiln',
        ip: done.ip.replace(/^::ffff:/, ''),
        key: rootKey.path,
        knownHostsLine: formatCertAuthorityLine(trust.sshCa.publicKey, '*'),
        command:
          'ip -o link show; echo ---; ip -4 -o addr show; echo ---; systemctl is-system-running --wait; echo ---; cat /etc/network/interfaces.d/kiln',
      });
      assert.equal(r.code, 0, r.stderr.slice(-1500));
      const [links, addrs, running, stanza] = r.stdout.split('---\n');
      t.diagnostic(`links: ${links.trim()}`);
      t.diagnostic(`addresses: ${addrs.trim()}`);
      t.diagnostic(`systemctl is-system-running: ${running.trim()}`);
      const nic = new RegExp(`^\\d+: (\\S+): .* link/ether ${mac} `, 'm').exec(links)?.[1];
      assert.ok(nic && nic !== 'eth0', `the NIC has its predictable name (${nic})`);
      assert.match(
        addrs,
        new RegExp(`^\\d+: ${nic} +inet ${done.ip.replace(/^::ffff:/, '').replaceAll('.', '\\.')}/`, 'm'),
      );
      assert.match(stanza, new RegExp(`^auto mac/${mac}=kiln-boot$`, 'm'));
      assert.equal(running.trim(), 'running');
    } catch (err) {
      t.diagnostic(readFileSync(bootLog, 'utf8').slice(-4000));
      throw err;
    } finally {
      vm.stop();
    }
  },
);

// The image writer with a real Debian 12 root (the measured case: mmdebstrap
// minbase with the kernel, systemd, udev, openssh-server, ifupdown and
// isc-dhcp-client; systemd-networkd installed but not enabled; no curl or
// wget). Runs only when KILN_WRITER_DEBIAN_IMAGE names such a tarball
// (scripts/writer-debian-e2e.sh builds one and runs this file): minutes, not
// part of CI. Images come from a real controller's image routes (tarball,
// objects, views); the node API is the fake's.
//
// 1. An empty disk: nothing to reuse (or too little memory), so the writer
//    streams the tarball, and
//    writes ifupdown's configuration bound to the boot NIC's MAC; the disk
//    boots under SeaBIOS, the system gets an address on its NIC (named by
//    udev, not eth0), calls back, and ssh with only Kiln's @cert-authority
//    line logs in; `systemctl is-system-running` answers `running`.
// 2. The same VM reinstalled with a changed image (one file changed, one
//    added): the writer reuses the objects on its own disk and fetches no
//    more than the changed objects plus 5 % of the image (printed); the new
//    system boots with the change.
// 3. A file changed on the installed root is reported by the verify route
//    from the listing `kiln host verify` takes over ssh.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { canUseNetns } from '../../test/support/netns.js';
import { createTestController } from '../../test/support/controller.js';
import type { Host } from '../inventory/host.js';
import { createImageCatalog } from '../image/image-catalog.js';
import { createImageStore } from '../image/image-store.js';
import { buildInstallPlan } from '../image/install-plan.js';
import { packagePath } from '../runtime/package-path.js';
import { loadTrust, type Trust } from '../trust/load-trust.js';
import { formatCertAuthorityLine } from '../trust/ssh/ssh-ca.js';
import { signHostCertificate } from '../trust/ssh/ssh-certificate.js';
import { buildDiscoveryImage, type DiscoveryImage } from './build-discovery-image.js';
import { startFakeNodeApi, type FakeNodeApi } from './fake-node-api.js';
import { makeRootKey, sshProbe } from './ssh-probe.js';
import { createVmNetwork, startVm, type VmNetwork } from './test-vm.js';

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
const host = { name: 'node-9.lab', firmware: 'bios' } as Host;

interface Bed {
  work: string;
  disk: string;
  network: VmNetwork;
  writer: DiscoveryImage;
  api: FakeNodeApi;
  trust: Trust;
  rootKey: { path: string; publicLine: string };
  /** The image name the next install plan names. */
  imageName: { current: string };
}

type Diag = { diagnostic(m: string): void; after(f: () => void): void };

/** Runs the writer on the bed's disk; returns the messages of its progress reports by stage. */
async function install(t: Diag, bed: Bed, label: string, memoryMiB: number): Promise<(stage: string) => string[]> {
  const log = join(bed.work, `serial-install-${label}.log`);
  const t0 = Date.now();
  const vm = startVm({
    network: bed.network,
    mac,
    disk: bed.disk,
    serialLog: log,
    firmware: 'bios',
    workDir: bed.work,
    memoryMiB,
    kernel: bed.writer.kernelPath,
    initrd: bed.writer.initrdPath,
    append: `console=ttyS0 kiln.url=${bed.api.url} kiln.mode=install BOOTIF=01-${mac.replaceAll(':', '-')}`,
  });
  t.after(() => vm.stop());
  try {
    const code = await Promise.race([
      vm.exited,
      bed.api
        .waitFor((c) => c.path === '/api/v1/node/failed' && c.at >= t0, 1_200_000)
        .then((c) => `failed: ${JSON.stringify(c.body)}`),
    ]);
    t.diagnostic(`${label}: install ${Date.now() - t0} ms`);
    assert.equal(code, 0, 'the writer rebooted');
  } catch (err) {
    t.diagnostic(readFileSync(log, 'utf8').slice(-4000));
    throw err;
  } finally {
    vm.stop();
  }
  return (stage) =>
    bed.api.calls
      .filter((c) => c.at >= t0 && c.path === '/api/v1/node/progress' && (c.body as { stage: string }).stage === stage)
      .map((c) => (c.body as { message: string }).message);
}

/**
 * Boots the disk, waits for the first-boot callback, runs `command` over ssh
 * trusting only Kiln's CA line, then `more` (with the VM's address) before
 * the VM stops.
 */
async function bootAndSsh(
  t: Diag,
  bed: Bed,
  label: string,
  command: string,
  more?: (ip: string) => Promise<void>,
): Promise<string> {
  const log = join(bed.work, `serial-boot-${label}.log`);
  const t0 = Date.now();
  const vm = startVm({
    network: bed.network,
    mac,
    disk: bed.disk,
    serialLog: log,
    firmware: 'bios',
    workDir: bed.work,
    memoryMiB: 1024,
  });
  t.after(() => vm.stop());
  try {
    const done = await Promise.race([
      bed.api.waitFor((c) => c.path === '/api/v1/node/complete' && c.at >= t0, 900_000),
      vm.exited.then((c) => {
        throw new Error(`QEMU exited (${c}) before the first-boot callback`);
      }),
    ]);
    t.diagnostic(`${label}: power-on to first-boot callback ${Date.now() - t0} ms`);
    assert.equal(done.authorization, `Bearer ${bed.api.credential}`);
    const ip = done.ip.replace(/^::ffff:/, '');
    const r = await sshProbe({
      dir: bed.work,
      name: label,
      ip,
      key: bed.rootKey.path,
      knownHostsLine: formatCertAuthorityLine(bed.trust.sshCa.publicKey, '*'),
      command,
    });
    assert.equal(r.code, 0, r.stderr.slice(-1500));
    if (more) await more(ip);
    return `${ip}\n${r.stdout}`;
  } catch (err) {
    t.diagnostic(readFileSync(log, 'utf8').slice(-4000));
    throw err;
  } finally {
    vm.stop();
  }
}

/** The changed image: the same root with /etc/motd changed and /etc/kiln-e2e added. */
function changedTarball(work: string): string {
  const root = join(work, 'root-b');
  execFileSync('mkdir', ['-p', root]);
  execFileSync('sh', [
    '-c',
    'zstd -dc "$1" | tar -C "$2" --xattrs --xattrs-include="*" --numeric-owner -xpf - && printf "changed by the kiln e2e\\n" > "$2/etc/motd" && printf "added\\n" > "$2/etc/kiln-e2e" && tar -C "$2" --xattrs --xattrs-include="*" --numeric-owner -cf - . | zstd -q -T0 -o "$3"',
    'sh',
    image,
    root,
    join(work, 'debian-b.tar.zst'),
  ]);
  rmSync(root, { recursive: true, force: true });
  return join(work, 'debian-b.tar.zst');
}

test(
  'image writer: a real Debian 12 ifupdown root gets an address on the NIC it really has; a changed image reinstalls from the objects on its disk',
  { skip, timeout: 2_400_000 },
  async (t) => {
    const work = mkdtempSync(join(tmpdir(), 'kiln-deb-'));
    t.after(() => rmSync(work, { recursive: true, force: true }));
    const writer = await buildDiscoveryImage({ cacheDir });
    const imagesDir = join(work, 'images');
    const catalog = createImageCatalog(createImageStore(imagesDir));
    let t0 = Date.now();
    const a = await catalog.importImage('debian-a', image);
    t.diagnostic(`import A: ${Date.now() - t0} ms, ${a.stats.entries} entries, ${a.stats.files} files`);
    t0 = Date.now();
    const b = await catalog.importImage('debian-b', changedTarball(work));
    t.diagnostic(`build and import B: ${Date.now() - t0} ms, ${b.stats.newObjects} new objects`);

    const network = createVmNetwork('deb', work);
    t.after(() => network.stop());
    const controller = await createTestController({ boot: { imagesDir } });
    t.after(() => void controller.close());
    await controller.app.listen({ host: network.hostIp, port: 0 });
    const baseUrl = `http://${network.hostIp}:${(controller.app.server.address() as AddressInfo).port}`;

    const names = { dnsNames: [], ipAddresses: [network.hostIp] };
    const trust = await loadTrust({ dataDir: join(work, 'kiln'), server: { kind: 'issue', ...names } });
    const rootKey = makeRootKey(work);
    const imageName = { current: 'debian-a' };
    let serial = 1;
    const images = createImageStore(imagesDir);
    const api = await startFakeNodeApi({
      host: network.hostIp,
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
      installPlan: (_url, apiUrl) => ({
        ...buildInstallPlan({ name: imageName.current, disk: 'auto' }, images.get(imageName.current), host, {
          baseUrl,
          apiUrl,
          caPem: trust.tlsCa.certPem,
        }),
      }),
    });
    t.after(() => api.close());
    const disk = join(work, 'disk.qcow2');
    execFileSync('qemu-img', ['create', '-q', '-f', 'qcow2', disk, '4G']);
    const bed: Bed = { work, disk, network, writer, api, trust, rootKey, imageName };

    await t.test(
      'empty disk: tarball streamed, ifupdown bound to the MAC, boots, calls back, ssh, running',
      async () => {
        const told = await install(t, bed, 'a', 1024);
        for (const s of ['clock', 'objects', 'network']) t.diagnostic(`${s}: ${told(s).join(' | ')}`);
        assert.match(told('objects')[0] ?? '', /streaming the tarball$/);
        assert.deepEqual(told('network'), [`network: ifupdown, kiln-boot = the NIC with MAC ${mac} (dhcp)`]);
        assert.match(told('clock')[0] ?? '', /^clock set from the controller to /);
        const out = await bootAndSsh(
          t,
          bed,
          'a',
          'ip -o link show; echo ---; ip -4 -o addr show; echo ---; systemctl is-system-running --wait; echo ---; cat /etc/network/interfaces.d/kiln',
        );
        const [ipLine, ...rest] = out.split('\n');
        const [links, addrs, running, stanza] = rest.join('\n').split('---\n');
        t.diagnostic(`links: ${links.trim()}`);
        t.diagnostic(`addresses: ${addrs.trim()}`);
        t.diagnostic(`systemctl is-system-running: ${running.trim()}`);
        const nic = new RegExp(`^\\d+: (\\S+): .* link/ether ${mac} `, 'm').exec(links)?.[1];
        assert.ok(nic && nic !== 'eth0', `the NIC has its predictable name (${nic})`);
        t.diagnostic(`the boot NIC is named ${nic} on the installed system; it has ${ipLine}`);
        assert.match(addrs, new RegExp(`^\\d+: ${nic} +inet ${ipLine.replaceAll('.', '\\.')}/`, 'm'));
        assert.match(stanza, new RegExp(`^auto mac/${mac}=kiln-boot$`, 'm'));
        assert.equal(running.trim(), 'running');
      },
    );

    await t.test(
      'changed image: objects reused from the disk, only the change fetched (≤ 5 %), boots with it',
      async () => {
        imageName.current = 'debian-b';
        const told = await install(t, bed, 'b', 2560);
        const msg = told('objects').at(-1) ?? '';
        t.diagnostic(`objects: ${msg}`);
        t.diagnostic(`image: ${told('image').join(' | ')}`);
        const m = /fetched (\d+) bytes \((\d+) objects.*reused (\d+) bytes \((\d+) objects\) of (\d+)/.exec(msg);
        assert.ok(m, msg);
        const [fetched, , reused, , total] = [1, 2, 3, 4, 5].map((i) => Number(m[i]));
        const views = Object.values(images.get('debian-b')?.views ?? {}).length;
        t.diagnostic(
          `reinstall: fetched ${fetched} bytes of ${total} (${((100 * fetched) / total).toFixed(2)} %), reused ${reused}; plus ${views} views`,
        );
        assert.ok(fetched <= 0.05 * total, `fetched ${fetched} of ${total}`);
        assert.equal(fetched + reused, total);
        // kiln host verify's two halves: the listing over ssh exactly as the CLI takes it (`sh -s`, the
        // script on stdin; megabytes of output, minutes of hashing under TCG) and the controller's route.
        let listing = '';
        const t1 = Date.now();
        const out = await bootAndSsh(
          t,
          bed,
          'b',
          'cat /etc/motd /etc/kiln-e2e; systemctl is-system-running --wait; echo tampered >> /etc/issue',
          async (ip) => {
            listing = execFileSync(
              'ssh',
              [
                '-F',
                '/dev/null',
                '-i',
                bed.rootKey.path,
                '-o',
                'IdentitiesOnly=yes',
                '-o',
                'BatchMode=yes',
                '-o',
                'StrictHostKeyChecking=yes',
                '-o',
                `UserKnownHostsFile=${join(work, 'b.known_hosts')}`,
                '-o',
                'GlobalKnownHostsFile=/dev/null',
                '--',
                `root@${ip}`,
                'sh',
                '-s',
              ],
              {
                input: readFileSync(packagePath('node/verify/kiln-verify-list.sh'), 'utf8'),
                encoding: 'utf8',
                maxBuffer: 64 << 20,
                timeout: 900_000,
              },
            );
            await Promise.resolve();
          },
        );
        assert.match(out, /changed by the kiln e2e\nadded\nrunning\n/);
        t.diagnostic(`verify listing: ${listing.length} bytes in ${Date.now() - t1} ms`);
        const add = await controller.app.inject({
          method: 'POST',
          url: '/api/v1/hosts',
          headers: { authorization: controller.bearer.operator },
          payload: { name: 'node-9', nics: [{ mac }] },
        });
        assert.equal(add.statusCode, 201, add.payload);
        const res = await controller.app.inject({
          method: 'POST',
          url: '/api/v1/hosts/node-9/verify',
          headers: { authorization: controller.bearer.operator },
          payload: { listing },
        });
        assert.equal(res.statusCode, 200, res.payload);
        const report = res.json<{
          image: string;
          samples: { changed: { path: string; what: string[] }[] };
        }>();
        t.diagnostic(`verify: ${JSON.stringify(report).slice(0, 1500)}`);
        assert.equal(report.image, images.get('debian-b')?.manifest);
        assert.ok(
          report.samples.changed.some((c) => c.path === '/etc/issue' && c.what.includes('content')),
          'the tampered file is reported',
        );
      },
    );
    writeFileSync(join(work, 'done'), '');
  },
);

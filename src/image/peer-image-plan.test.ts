// An install plan built by a member that holds no record of the deployed
// image (docs/cluster.md, "Content between members"; ADR 0015): the whole
// controller in process, its peer a fake serving member A's data dir
// (fake-image-peer.ts). The plan names A's image (SHA-256, manifest) with the
// views this member rendered, and /images/<file> then serves A's tarball.
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, test } from 'node:test';
import { createTestController } from '../../test/support/controller.js';
import { KilnError } from '../error/kiln-error.js';
import { createFakeImagePeer } from './fake-image-peer.js';
import { createImageCatalog } from './image-catalog.js';
import { createImageStore } from './image-store.js';

const work = mkdtempSync(join(tmpdir(), 'kiln-peer-plan-'));
after(() => rmSync(work, { recursive: true, force: true }));

const mac = '52:54:00:cc:00:03';
const facts = {
  bootMac: mac,
  firmware: 'bios',
  cpu: { model: 'QEMU Virtual CPU', count: 2 },
  memory: { totalBytes: 790000000, installedBytes: 805306368 },
  nics: [{ name: 'eth0', mac, driver: 'virtio_net', link: 'up', speedMbps: null }],
  disks: [{ name: 'vda', sizeBytes: 2147483648, model: '', serial: '', rotational: true, removable: false }],
  pci: [],
  dmi: { vendor: 'QEMU', product: 'Standard PC (i440FX + PIIX, 1996)', serial: '', uuid: 'u-3' },
  bmc: { present: false, ipAddress: '', macAddress: '' },
  lldp: null,
};

test("a deployment's install plan on a member without the image's record names the importer's image and this member's views; the tarball is served from the peer's bytes", async (t) => {
  const root = join(work, 'root');
  mkdirSync(join(root, 'etc'), { recursive: true });
  writeFileSync(join(root, 'etc', 'hostname'), 'shared\n');
  const tarball = join(work, 'shared.tar.gz');
  execFileSync('tar', ['-C', root, '--numeric-owner', '-czf', tarball, '.']);
  const storeA = createImageStore(join(work, 'a', 'images'));
  const { image: onA } = await createImageCatalog(storeA).importImage('shared', tarball);
  const peer = createFakeImagePeer(storeA);
  const imagesDir = join(work, 'b', 'images');
  mkdirSync(imagesDir, { recursive: true });
  const c = await createTestController({
    boot: { imagesDir, nodeImage: () => ({ dir: '/nonexistent', arch: 'x86_64' }) },
    members: {
      fetch: peer.fetch,
      verify: () => {
        throw new KilnError('credential_invalid', 'no member calls in this test');
      },
    },
  });
  t.after(() => c.close());
  const api = (method: 'GET' | 'POST' | 'PUT', url: string, payload?: unknown) =>
    c.app.inject({
      method,
      url: `/api/v1/${url}`,
      payload: payload as object,
      headers: { authorization: c.bearer.admin },
    });
  const node = (method: 'GET' | 'POST', url: string, cred: string | null, payload?: unknown) =>
    c.app.inject({
      method,
      url: `/api/v1/node/${url}`,
      payload: payload as object,
      headers: cred ? { authorization: `Bearer ${cred}` } : {},
    });

  const rule = await api('PUT', 'rules/qemu', {
    match: { vendor: 'QEMU' },
    assign: { name: 'vm-{mac}', profile: 'kiln-image' },
  });
  assert.equal(rule.statusCode, 200, rule.body);
  assert.equal((await node('POST', 'discover', null, { facts })).statusCode, 200);
  const dep = await api('POST', 'hosts/vm-525400cc0003/deploy', { variables: { imageName: 'shared' } });
  assert.equal(dep.statusCode, 200, dep.body);
  const enrol = await node('POST', 'enrol', null, { mac });
  assert.equal(enrol.statusCode, 200, enrol.body);
  const plan = await node('GET', 'install-plan', enrol.json().credential);
  assert.equal(plan.statusCode, 200, plan.body);
  const image = plan.json().image;
  assert.equal(image.url, 'http://192.0.2.1:8080/images/shared.tar.gz');
  assert.equal(image.sha256, onA.sha256);
  assert.equal(image.manifest, onA.manifest);
  assert.deepEqual(
    Object.fromEntries(
      Object.entries(image.objects.views as Record<string, { sha256: string }>).map(([v, x]) => [v, x.sha256]),
    ),
    onA.views,
    "the views this member rendered from the verified manifest hash as A's",
  );
  assert.equal(c.images.get('shared')?.fetchedFrom, 'kiln-a');
  const served = await c.app.inject({ url: '/images/shared.tar.gz' });
  assert.equal(served.statusCode, 200);
  assert.deepEqual(served.rawPayload, readFileSync(tarball));
  assert.deepEqual(
    peer.calls.map((x) => x.split('/')[0]),
    ['images', 'manifests', 'tarballs'],
    'the record, its manifest, then the tarball only when asked',
  );
});

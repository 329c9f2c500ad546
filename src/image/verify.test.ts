// `kiln host verify`: the host-side lister (node/verify/kiln-verify-list.sh,
// GNU find and sha256sum) over a root unpacked from an imported image, then
// changed the ways a root drifts; the controller's route compares it with the
// manifest and records a host.verified event. Paths the writer owns
// (/etc/hostname, /etc/kiln, ...) and state trees (/var) are not reported.
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { chmodSync, mkdirSync, mkdtempSync, rmSync, symlinkSync, unlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { createTestController } from '../../test/support/controller.js';
import { packagePath } from '../runtime/package-path.js';
import { createImageCatalog } from './image-catalog.js';
import { createImageStore } from './image-store.js';
import { parseListing, verifyRoot } from './objects/verify-root.js';

const work = mkdtempSync(join(tmpdir(), 'kiln-verify-'));
after(() => rmSync(work, { recursive: true, force: true }));
const lister = packagePath('node/verify/kiln-verify-list.sh');

function put(root: string, path: string, text: string, mode = 0o644): void {
  mkdirSync(dirname(join(root, path)), { recursive: true });
  writeFileSync(join(root, path), text);
  chmodSync(join(root, path), mode);
}

/** An image, imported, and a root unpacked from it that then drifts; returns the image id and the root. */
async function installed(): Promise<{ id: string; root: string; imagesDir: string }> {
  const src = join(work, 'src');
  put(src, 'etc/os-release', 'NAME=Kiln\n');
  put(src, 'etc/hostname', 'image\n');
  put(src, 'usr/bin/tool', '#!/bin/sh\n', 0o755);
  put(src, 'usr/bin/sudo-ish', 'x', 0o4755);
  put(src, 'usr/lib/gone.so', 'lib\n');
  put(src, 'var/lib/state', 'state\n');
  symlinkSync('tool', join(src, 'usr/bin/alias'));
  const tarball = join(work, 'img.tar.gz');
  execFileSync('tar', ['-C', src, '--numeric-owner', '-czf', tarball, '.']);
  const imagesDir = join(work, 'images');
  const { image } = await createImageCatalog(createImageStore(imagesDir)).importImage('img', tarball);
  const root = join(work, 'root');
  mkdirSync(root);
  execFileSync('tar', ['-C', root, '--numeric-owner', '-xpzf', tarball]);
  put(root, 'etc/kiln/image-id', `${image.manifest}\n`);
  // Drift: content, mode, symlink target, an added and a removed file; writer paths and /var change too.
  put(root, 'usr/bin/tool', '#!/bin/sh\necho pwned\n', 0o755);
  chmodSync(join(root, 'usr/bin/sudo-ish'), 0o755);
  unlinkSync(join(root, 'usr/bin/alias'));
  symlinkSync('/tmp/evil', join(root, 'usr/bin/alias'));
  put(root, 'usr/local/bin/backdoor', 'x', 0o755);
  unlinkSync(join(root, 'usr/lib/gone.so'));
  put(root, 'etc/hostname', 'node-7\n');
  put(root, 'var/lib/state', 'changed\n');
  return { id: image.manifest!, root, imagesDir };
}

test('host verify: added, changed and missing files are found; writer paths and state trees are not reported', async () => {
  const { id, root, imagesDir } = await installed();
  const listing = execFileSync('sh', [lister, root], { encoding: 'utf8', maxBuffer: 64 << 20 });
  const parsed = parseListing(listing);
  assert.equal(parsed.imageId, id);
  assert.equal(parsed.unparsed, 0);
  const manifest = (await createImageCatalog(createImageStore(imagesDir)).manifests.get(id))!;
  const r = verifyRoot(manifest, parsed);
  assert.deepEqual(r.added, ['/usr/local', '/usr/local/bin', '/usr/local/bin/backdoor']);
  assert.deepEqual(r.missing, ['/usr/lib/gone.so']);
  assert.deepEqual(r.changed, [
    { path: '/usr/bin/alias', what: ['target tool → /tmp/evil'] },
    { path: '/usr/bin/sudo-ish', what: ['mode 4755 → 755'] },
    { path: '/usr/bin/tool', what: ['content'] },
  ]);

  // The route: the same listing gives the report and a host.verified event.
  const c = await createTestController({ boot: { imagesDir } });
  try {
    const add = await c.app.inject({
      method: 'POST',
      url: '/api/v1/hosts',
      headers: { authorization: c.bearer.operator },
      payload: { name: 'node-7', nics: [{ mac: '52:54:00:00:00:07' }] },
    });
    assert.equal(add.statusCode, 201, add.payload);
    const res = await c.app.inject({
      method: 'POST',
      url: '/api/v1/hosts/node-7/verify',
      headers: { authorization: c.bearer.operator },
      payload: { listing },
    });
    assert.equal(res.statusCode, 200, res.payload);
    const body = res.json<{ added: number; changed: number; missing: number; image: string }>();
    assert.deepEqual([body.image, body.added, body.changed, body.missing], [id, 3, 3, 1]);
    const events = await c.app.inject({
      url: '/api/v1/hosts/node-7/events',
      headers: { authorization: c.bearer.viewer },
    });
    const v = events
      .json<{ items: { kind: string; message: string }[] }>()
      .items.find((e) => e.kind === 'host.verified');
    assert.match(v?.message ?? '', /^root differs from image [0-9a-f]{12}: 3 added, 3 changed, 1 missing$/);
    // A viewer may not; a listing without an image id is refused with what to do.
    const viewer = await c.app.inject({
      method: 'POST',
      url: '/api/v1/hosts/node-7/verify',
      headers: { authorization: c.bearer.viewer },
      payload: { listing },
    });
    assert.equal(viewer.statusCode, 403);
    const none = await c.app.inject({
      method: 'POST',
      url: '/api/v1/hosts/node-7/verify',
      headers: { authorization: c.bearer.operator },
      payload: { listing: listing.replace(/^kiln-verify\/1 \S+/, 'kiln-verify/1 unknown') },
    });
    assert.equal(none.statusCode, 404);
    assert.match(none.json<{ error: { message: string } }>().error.message, /names no image .*deploy it again/);
  } finally {
    await c.close();
  }
});

test('host verify: an untouched root matches its image', async () => {
  const src = join(work, 'clean-src');
  put(src, 'usr/bin/a', 'a\n');
  put(src, 'etc/os-release', 'NAME=Kiln\n');
  const tarball = join(work, 'clean.tar.gz');
  execFileSync('tar', ['-C', src, '--numeric-owner', '-czf', tarball, '.']);
  const catalog = createImageCatalog(createImageStore(join(work, 'clean-images')));
  const { image } = await catalog.importImage('clean', tarball);
  const root = join(work, 'clean-root');
  mkdirSync(root);
  execFileSync('tar', ['-C', root, '--numeric-owner', '-xpzf', tarball]);
  put(root, 'etc/kiln/image-id', `${image.manifest}\n`);
  const r = verifyRoot(
    (await catalog.manifests.get(image.manifest!))!,
    parseListing(execFileSync('sh', [lister, root], { encoding: 'utf8' })),
  );
  assert.deepEqual([r.added, r.changed, r.missing, r.checked], [[], [], [], 5]);
});

import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { createTestController } from '../../../test/support/controller.js';
import { createImageCatalog } from '../image-catalog.js';
import { createImageStore } from '../image-store.js';
import { renderInstallView } from './install-views.js';
import { decodePack } from './pack-frame.js';
import { MANIFEST_FORMAT, formatManifest } from './manifest.js';

const sha = (b: Uint8Array | string) => createHash('sha256').update(b).digest('hex');

describe('image object routes', () => {
  const dir = mkdtempSync(join(tmpdir(), 'kiln-objroutes-'));
  const catalog = createImageCatalog(createImageStore(dir));
  let c: Awaited<ReturnType<typeof createTestController>>;
  const a = Buffer.from('object a\n');
  const b = Buffer.alloc(300_000, 7);
  let manifestId = '';
  before(async () => {
    await catalog.objects.put([a]);
    await catalog.objects.put([b]);
    manifestId = await catalog.manifests.put({
      format: MANIFEST_FORMAT,
      entries: [
        { path: '/', type: 'dir', mode: 0o755, uid: 0, gid: 0, mtime: 0 },
        { path: '/a', type: 'file', mode: 0o644, uid: 0, gid: 0, mtime: 0, object: sha(a), size: a.length },
      ],
    });
    c = await createTestController({ boot: { imagesDir: dir } });
  });
  after(async () => {
    await c.close();
    rmSync(dir, { recursive: true, force: true });
  });

  it('serves an object by id, immutable, with HEAD and Range', async () => {
    const get = await c.app.inject({ url: `/images/objects/${sha(b)}` });
    assert.equal(get.statusCode, 200);
    assert.equal(sha(get.rawPayload), sha(b));
    assert.equal(get.headers['cache-control'], 'public, max-age=31536000, immutable');
    const head = await c.app.inject({ method: 'HEAD', url: `/images/objects/${sha(a)}` });
    assert.equal(head.statusCode, 200);
    assert.equal(head.headers['content-length'], String(a.length));
    const range = await c.app.inject({ url: `/images/objects/${sha(a)}`, headers: { range: 'bytes=2-5' } });
    assert.equal(range.statusCode, 206);
    assert.equal(range.payload, 'ject');
  });

  it('answers 404 for an absent object or a malformed id', async () => {
    assert.equal((await c.app.inject({ url: `/images/objects/${'0'.repeat(64)}` })).statusCode, 404);
    assert.equal((await c.app.inject({ url: '/images/objects/..%2f..%2fetc' })).statusCode, 404);
  });

  it('serves a manifest whose bytes hash to its id', async () => {
    const res = await c.app.inject({ url: `/images/manifests/${manifestId}` });
    assert.equal(res.statusCode, 200);
    assert.equal(sha(res.rawPayload), manifestId);
    assert.equal(res.payload, formatManifest((await catalog.manifests.get(manifestId))!));
  });

  it("serves a manifest's install view whose bytes hash to what putView returned; an unknown view is 404 like every refused boot path", async () => {
    const m = (await catalog.manifests.get(manifestId))!;
    const want = await catalog.manifests.putView(manifestId, 'mtree', renderInstallView(m, 'mtree'));
    const res = await c.app.inject({ url: `/images/manifests/${manifestId}/mtree` });
    assert.equal(res.statusCode, 200);
    assert.equal(sha(res.rawPayload), want);
    assert.match(res.payload, /^#mtree\n\. type=dir /);
    assert.equal((await c.app.inject({ url: `/images/manifests/${manifestId}/files` })).statusCode, 404);
    assert.equal((await c.app.inject({ url: `/images/manifests/${manifestId}/passwd` })).statusCode, 404);
  });

  it('packs many objects in request order, repeats included', async () => {
    const ids = [sha(b), sha(a), sha(b)];
    const res = await c.app.inject({ method: 'POST', url: '/images/objects/pack', payload: { ids } });
    assert.equal(res.statusCode, 200);
    assert.equal(res.headers['content-length'], String(res.rawPayload.length));
    const got = decodePack(res.rawPayload);
    assert.deepEqual(
      got.map((o) => o.id),
      ids,
    );
    for (const o of got) assert.equal(sha(o.bytes), o.id);
  });

  it('refuses a pack naming an absent object before sending anything, and a malformed body', async () => {
    const missing = await c.app.inject({
      method: 'POST',
      url: '/images/objects/pack',
      payload: { ids: [sha(a), 'f'.repeat(64)] },
    });
    assert.equal(missing.statusCode, 404);
    const bad = await c.app.inject({ method: 'POST', url: '/images/objects/pack', payload: { ids: ['xyz'] } });
    assert.equal(bad.statusCode, 400);
  });
});

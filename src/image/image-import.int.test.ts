// Imports a tarball made by Debian's tar (hardlink, symlink, device node,
// fifo, xattr, owners, setuid) into the object store, serves it from a
// listening controller on loopback, fetches with curl (GET, HEAD, Range,
// pack) and checks everything against tar's own listing and extraction.
import assert from 'node:assert/strict';
import { execFile, execFileSync, spawnSync } from 'node:child_process';
import { promisify } from 'node:util';
import { createHash } from 'node:crypto';
import {
  chmodSync,
  chownSync,
  linkSync,
  mkdirSync,
  mkdtempSync,
  readFileSync,
  rmSync,
  symlinkSync,
  writeFileSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { createTestController } from '../../test/support/controller.js';
import { createImageCatalog } from './image-catalog.js';
import { createImageStore } from './image-store.js';
import type { ManifestEntry } from './objects/manifest.js';
import { decodePack } from './objects/pack-frame.js';

const sha = (b: Uint8Array) => createHash('sha256').update(b).digest('hex');
const have = (tool: string) => spawnSync('sh', ['-c', `command -v ${tool}`]).status === 0;
const skip =
  process.getuid?.() !== 0
    ? 'needs root (mknod, chown)'
    : !have('setfattr')
      ? 'needs setfattr (apt-get install attr; scripts/install-test-peers.sh)'
      : !have('curl')
        ? 'needs curl'
        : false;

const tarType: Record<string, ManifestEntry['type']> = {
  '-': 'file',
  d: 'dir',
  l: 'symlink',
  h: 'hardlink',
  c: 'char',
  b: 'block',
  p: 'fifo',
};

/** One line of `tar -tv --numeric-owner`: type, mode text, uid/gid, size or major,minor, date, time, name[, link]. */
function parseListing(text: string) {
  return text
    .trim()
    .split('\n')
    .map((line) => {
      const m = /^(.)(\S{9})\s+(\d+)\/(\d+)\s+(\S+(?:,\s*\d+)?)\s+\S+ \S+ (.*)$/.exec(line);
      assert.ok(m, line);
      let name = m[6];
      let target: string | undefined;
      const link = / (->|link to) (.*)$/.exec(name);
      if (link) {
        target = link[2];
        name = name.slice(0, link.index);
      }
      const modeText = m[2];
      let mode = 0;
      for (let i = 0; i < 9; i++) if (!'-ST'.includes(modeText[i])) mode |= 1 << (8 - i);
      if ('sS'.includes(modeText[2])) mode |= 0o4000;
      if ('sS'.includes(modeText[5])) mode |= 0o2000;
      if ('tT'.includes(modeText[8])) mode |= 0o1000;
      return { type: tarType[m[1]], mode, uid: Number(m[3]), gid: Number(m[4]), sizeOrDev: m[5], name, target };
    });
}

describe('image import from a Debian tar, served over HTTP', { skip }, () => {
  const dir = mkdtempSync(join(tmpdir(), 'kiln-image-import-'));
  const root = join(dir, 'root');
  const tarball = join(dir, 'root.tar.gz');
  const imagesDir = join(dir, 'images');
  const catalog = createImageCatalog(createImageStore(imagesDir));
  let c: Awaited<ReturnType<typeof createTestController>>;
  let base = '';
  let entries: ManifestEntry[] = [];

  before(async () => {
    mkdirSync(join(root, 'etc'), { recursive: true });
    mkdirSync(join(root, 'usr/bin'), { recursive: true });
    mkdirSync(join(root, 'dev'));
    writeFileSync(join(root, 'etc/hostname.tmpl'), 'node\n');
    linkSync(join(root, 'etc/hostname.tmpl'), join(root, 'etc/hostname.hard'));
    symlinkSync('../usr/bin/tool', join(root, 'etc/tool-link'));
    writeFileSync(join(root, 'usr/bin/tool'), Buffer.alloc(2_500_000, 0xab)); // larger than one streamed chunk
    chmodSync(join(root, 'usr/bin/tool'), 0o4755);
    writeFileSync(join(root, 'usr/bin/empty'), '');
    writeFileSync(join(root, 'etc/owned'), 'owned by 1000:1001\n');
    chownSync(join(root, 'etc/owned'), 1000, 1001);
    execFileSync('mknod', ['-m', '0666', join(root, 'dev/null'), 'c', '1', '3']);
    execFileSync('mknod', ['-m', '0660', join(root, 'dev/loop9'), 'b', '7', '9']);
    execFileSync('mkfifo', [join(root, 'dev/fifo')]);
    execFileSync('setfattr', ['-n', 'user.kiln.test', '-v', '0x00ff0a3d01', join(root, 'usr/bin/tool')]);
    execFileSync('tar', ['--xattrs', '--xattrs-include=user.*', '--numeric-owner', '-C', root, '-czf', tarball, '.']);
    const { image } = await catalog.importImage('debian-tar', tarball);
    entries = (await catalog.show('debian-tar')).manifest.entries;
    assert.ok(image.manifest);
    c = await createTestController({ boot: { imagesDir } });
    await c.app.listen({ host: '127.0.0.1', port: 0 });
    const addr = c.app.server.address();
    assert.ok(addr && typeof addr === 'object');
    base = `http://127.0.0.1:${addr.port}`;
  });
  after(async () => {
    await c?.close();
    rmSync(dir, { recursive: true, force: true });
  });

  // Async: the controller answers from this same process, so a synchronous child would block it.
  const curl = async (...args: string[]): Promise<Buffer> =>
    (
      await promisify(execFile)('curl', ['-sS', '--max-time', '20', ...args], {
        encoding: 'buffer',
        maxBuffer: 64 << 20,
      })
    ).stdout;

  it("the manifest matches tar's own listing, entry by entry", () => {
    const listing = parseListing(execFileSync('tar', ['--numeric-owner', '-tvzf', tarball], { encoding: 'utf8' }));
    const byPath = new Map(entries.map((e) => [e.path, e]));
    assert.equal(entries.length, listing.length);
    for (const l of listing) {
      const path = `/${l.name.replace(/^\.\/?/, '').replace(/\/$/, '')}`.replace(/^\/$/, '/');
      const e = byPath.get(path === '/' ? '/' : path);
      assert.ok(e, `${path} is in the manifest`);
      assert.equal(e.type, l.type, path);
      assert.equal(e.mode, l.mode, `${path} mode`);
      assert.equal(e.uid, l.uid, `${path} uid`);
      assert.equal(e.gid, l.gid, `${path} gid`);
      if (e.type === 'file') assert.equal(String(e.size), l.sizeOrDev, `${path} size`);
      if (e.type === 'char' || e.type === 'block')
        assert.equal(`${e.devMajor},${e.devMinor}`, l.sizeOrDev.replace(/\s/g, ''), `${path} device`);
      if (e.type === 'symlink') assert.equal(e.target, l.target, path);
      if (e.type === 'hardlink') assert.equal(e.target, `/${l.target!.replace(/^\.\//, '')}`, path);
    }
    assert.deepEqual(byPath.get('/usr/bin/tool')!.xattrs, {
      'user.kiln.test': Buffer.from([0, 0xff, 0x0a, 0x3d, 1]).toString('base64'),
    });
  });

  it('every object served over HTTP is the bytes tar extracts for that path', async () => {
    for (const e of entries.filter((x) => x.type === 'file')) {
      const fromTar = execFileSync('tar', ['-xOzf', tarball, `.${e.path}`], { maxBuffer: 64 << 20 });
      const served = await curl('--fail', `${base}/images/objects/${e.object}`);
      assert.equal(sha(served), sha(fromTar), e.path);
      assert.equal(e.object, sha(fromTar), e.path);
    }
  });

  it('HEAD gives the length, Range a slice, and an unknown id 404', async () => {
    const tool = entries.find((e) => e.path === '/usr/bin/tool')!;
    const head = (await curl('-I', `${base}/images/objects/${tool.object}`)).toString();
    assert.match(head, /^HTTP\/1\.1 200/);
    assert.match(head, /content-length: 2500000/i);
    assert.match(head, /accept-ranges: bytes/i);
    const part = await curl(
      '-r',
      '1000-1009',
      '-D',
      join(dir, 'range-headers'),
      `${base}/images/objects/${tool.object}`,
    );
    assert.deepEqual([...part], Array(10).fill(0xab));
    assert.match(
      readFileSync(join(dir, 'range-headers'), 'utf8'),
      /^HTTP\/1\.1 206[\s\S]*content-range: bytes 1000-1009\/2500000/i,
    );
    const missing = (
      await curl('-o', '/dev/null', '-w', '%{http_code}', `${base}/images/objects/${'0'.repeat(64)}`)
    ).toString();
    assert.equal(missing, '404');
  });

  it('the manifest is served under its id, and a pack holds every object of the image', async () => {
    const image = createImageStore(imagesDir).get('debian-tar')!;
    const manifest = await curl('--fail', `${base}/images/manifests/${image.manifest}`);
    assert.equal(sha(manifest), image.manifest);
    const ids = [...new Set(entries.flatMap((e) => (e.object ? [e.object] : [])))];
    const pack = await curl(
      '--fail',
      '-X',
      'POST',
      '-H',
      'content-type: application/json',
      '--data-binary',
      JSON.stringify({ ids }),
      `${base}/images/objects/pack`,
    );
    const got = decodePack(pack);
    assert.deepEqual(
      got.map((o) => o.id),
      ids,
    );
    for (const o of got) assert.equal(sha(o.bytes), o.id);
  });

  it('the tarball itself is still served for the image writer', async () => {
    const image = createImageStore(imagesDir).get('debian-tar')!;
    assert.equal(sha(await curl('--fail', `${base}/images/${image.file}`)), image.sha256);
  });

  it('a second import of the same root stores nothing new and gives the same image id; gc keeps both', async () => {
    const again = await catalog.importImage('debian-tar-2', tarball);
    assert.equal(again.stats.newObjects, 0);
    assert.equal(again.image.manifest, createImageStore(imagesDir).get('debian-tar')!.manifest);
    const gc = await catalog.gc(0);
    assert.equal(gc.removedObjects, 0);
    assert.deepEqual(gc.removedManifests, []);
  });
});

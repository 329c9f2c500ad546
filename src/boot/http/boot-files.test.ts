import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, mkdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import Fastify from 'fastify';
import { bootFilesPlugin } from './boot-files.js';
import { createBootFileCache } from './boot-file-cache.js';

test('boot files: GET, HEAD and Range under /boot/, nothing outside the root', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'kiln-boot-http-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  const root = join(dir, 'root');
  mkdirSync(join(root, 'debian'), { recursive: true });
  const body = Buffer.from('0123456789abcdefghij'.repeat(100)); // 2000 bytes
  writeFileSync(join(root, 'debian', 'vmlinuz'), body);
  writeFileSync(join(root, '.hidden'), 'x');
  writeFileSync(join(dir, 'secret'), 'outside');
  const app = Fastify();
  await app.register(bootFilesPlugin, { root, urlPrefix: '/boot/' });
  t.after(() => app.close());

  const get = await app.inject({ method: 'GET', url: '/boot/debian/vmlinuz' });
  assert.equal(get.statusCode, 200);
  assert.deepEqual(get.rawPayload, body);
  assert.equal(get.headers['accept-ranges'], 'bytes');
  assert.ok(get.headers.etag);

  const head = await app.inject({ method: 'HEAD', url: '/boot/debian/vmlinuz' });
  assert.equal(head.statusCode, 200);
  assert.equal(head.headers['content-length'], '2000');
  assert.equal(head.rawPayload.length, 0);

  const range = await app.inject({ method: 'GET', url: '/boot/debian/vmlinuz', headers: { range: 'bytes=10-19' } });
  assert.equal(range.statusCode, 206);
  assert.equal(range.headers['content-range'], 'bytes 10-19/2000');
  assert.equal(range.payload, 'abcdefghij');

  const tail = await app.inject({ method: 'GET', url: '/boot/debian/vmlinuz', headers: { range: 'bytes=-5' } });
  assert.equal(tail.statusCode, 206);
  assert.equal(tail.payload, 'fghij');

  const bad = await app.inject({ method: 'GET', url: '/boot/debian/vmlinuz', headers: { range: 'bytes=5000-6000' } });
  assert.equal(bad.statusCode, 416);

  const cond = await app.inject({
    method: 'GET',
    url: '/boot/debian/vmlinuz',
    headers: { 'if-none-match': String(get.headers.etag) },
  });
  assert.equal(cond.statusCode, 304);

  const routes = app.printRoutes();
  assert.match(routes, /boot\/\n/);
  assert.doesNotMatch(routes, /boot\/boot/);

  for (const url of ['/boot/../secret', '/boot/%2e%2e/secret', '/boot/.hidden', '/boot/missing', '/boot/debian/']) {
    const r = await app.inject({ method: 'GET', url });
    assert.ok(r.statusCode >= 400 && r.statusCode < 500, `${url} -> ${r.statusCode}`);
    assert.ok(!r.payload.includes('outside'), url);
  }
});

test('boot files: the memory cache answers plain GETs with the streamed headers and bytes; the rest goes to the library', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'kiln-boot-http-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  const root = join(dir, 'root');
  mkdirSync(join(root, 'debian'), { recursive: true });
  writeFileSync(join(root, 'debian', 'vmlinuz'), Buffer.alloc(300_000, 9));
  writeFileSync(join(root, 'notes.txt'), 'hello');
  writeFileSync(join(root, 'a%41'), 'percent');
  writeFileSync(join(root, 'aA'), 'decoded twice');
  writeFileSync(join(root, '.hidden'), 'x');
  const cache = createBootFileCache(1 << 20);
  const cached = Fastify();
  await cached.register(bootFilesPlugin, { root, urlPrefix: '/boot/', cache });
  const streamed = Fastify();
  await streamed.register(bootFilesPlugin, { root, urlPrefix: '/boot/' });
  t.after(() => Promise.all([cached.close(), streamed.close()]));

  for (const url of ['/boot/debian/vmlinuz', '/boot/notes.txt']) {
    const a = await cached.inject({ method: 'GET', url });
    const b = await streamed.inject({ method: 'GET', url });
    assert.equal(a.statusCode, 200, url);
    assert.deepEqual(a.rawPayload, b.rawPayload, url);
    for (const h of ['content-type', 'content-length', 'etag', 'last-modified', 'accept-ranges', 'cache-control']) {
      assert.equal(a.headers[h], b.headers[h], `${url} ${h}`);
    }
  }
  assert.equal(cache.stats.entries, 2);
  const hits = cache.stats.hits;
  assert.equal((await cached.inject({ method: 'GET', url: '/boot/debian/vmlinuz' })).statusCode, 200);
  assert.equal(cache.stats.hits, hits + 1, 'the second GET is a hit');

  // Range, conditional and HEAD requests are the library's; their answers are unchanged.
  const range = await cached.inject({ method: 'GET', url: '/boot/notes.txt', headers: { range: 'bytes=1-2' } });
  assert.equal(range.statusCode, 206);
  assert.equal(range.payload, 'el');
  const etag = String((await cached.inject({ method: 'HEAD', url: '/boot/notes.txt' })).headers.etag);
  assert.equal(
    (await cached.inject({ method: 'GET', url: '/boot/notes.txt', headers: { 'if-none-match': etag } })).statusCode,
    304,
  );
  assert.equal(cache.stats.hits, hits + 1, 'none of those touched the cache');

  // A name with % after the one decoding (a second encoding) is refused by both, never opened as another file.
  const pct = [
    await cached.inject({ method: 'GET', url: '/boot/a%2541' }),
    await streamed.inject({ method: 'GET', url: '/boot/a%2541' }),
  ];
  assert.deepEqual(
    pct.map((r) => [r.statusCode, r.json().error.code]),
    [
      [404, 'not_found'],
      [404, 'not_found'],
    ],
  );
  assert.ok(!pct.some((r) => r.payload.includes('decoded twice') || r.payload.includes('percent')));
  for (const url of ['/boot/.hidden', '/boot/%2e%2e/root/notes.txt', '/boot/missing', '/boot/debian/']) {
    const r = await cached.inject({ method: 'GET', url });
    assert.ok(r.statusCode >= 400 && r.statusCode < 500, `${url} -> ${r.statusCode}`);
  }
});

test('boot files: beforeSend runs before the name is resolved, so a file it brings is served; a name it leaves absent is a 404', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'kiln-boot-http-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  const asked: string[] = [];
  const app = Fastify();
  await app.register(bootFilesPlugin, {
    root: dir,
    urlPrefix: '/images/',
    beforeSend: async (rel) => {
      asked.push(rel);
      if (rel === 'fetched.tar.gz') writeFileSync(join(dir, rel), 'from a peer');
    },
  });
  t.after(() => app.close());
  const got = await app.inject({ method: 'GET', url: '/images/fetched.tar.gz', headers: { range: 'bytes=5-10' } });
  assert.equal(got.statusCode, 206);
  assert.equal(got.payload, 'a peer');
  assert.equal((await app.inject({ method: 'GET', url: '/images/absent.tar.gz' })).statusCode, 404);
  assert.deepEqual(asked, ['fetched.tar.gz', 'absent.tar.gz']);
});

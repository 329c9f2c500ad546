import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, mkdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import Fastify from 'fastify';
import { bootFilesPlugin } from './boot-files.js';

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

  const cond = await app.inject({ method: 'GET', url: '/boot/debian/vmlinuz', headers: { 'if-none-match': String(get.headers.etag) } });
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

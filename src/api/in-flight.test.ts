// The in-flight count admission control reads (src/power/admission.ts): a request counts until its answer is
// handed to the socket, not while a long body streams, and one whose client goes away before its answer is
// counted out once.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { PassThrough } from 'node:stream';
import { request } from 'node:http';
import type { AddressInfo } from 'node:net';
import { KilnError } from '../error/kiln-error.js';
import { buildApp, domain } from './build-app.js';
import type { FastifyPluginAsyncTypebox } from './type-provider.js';

test('HTTP in flight counts requests waiting for their answer; a streaming body or an aborted wait is counted out once', async () => {
  let now = 0;
  const body = new PassThrough();
  let release: () => void = () => {};
  const routes: FastifyPluginAsyncTypebox = async (app) => {
    app.get('/big', { config: { access: 'public' } }, async (_req, reply) =>
      reply.header('content-type', 'application/octet-stream').send(body),
    );
    app.get('/slow', { config: { access: 'public' } }, () => new Promise<string>((r) => (release = () => r('late'))));
  };
  const app = await buildApp({
    auth: {
      token: async () => {
        throw new KilnError('unauthenticated', 'no tokens here');
      },
    },
    plugins: [domain(routes, {}, '')],
    inFlight: (d) => {
      now += d;
    },
  });
  await app.listen({ port: 0, host: '127.0.0.1' });
  const { port } = app.server.address() as AddressInfo;
  const until = async (what: string, ok: () => boolean) => {
    for (let i = 0; i < 200 && !ok(); i++) await new Promise((r) => setTimeout(r, 10));
    assert.ok(ok(), what);
  };
  try {
    // A download: its headers are out and its body is still streaming; it no longer waits for an answer.
    const got: Buffer[] = [];
    const headers = new Promise<void>((resolve, reject) => {
      const r = request({ port, path: '/big' }, (res) => {
        assert.equal(res.statusCode, 200);
        res.on('data', (d: Buffer) => got.push(d));
        resolve();
      });
      r.on('error', reject);
      r.end();
    });
    body.write(Buffer.alloc(1024));
    await headers;
    await until('the download is not counted once its answer is out', () => now === 0);
    // A request whose answer is not ready counts, and is counted out once when its client goes away.
    const slow = request({ port, path: '/slow' });
    slow.on('error', () => {});
    slow.end();
    await until('the waiting request counts', () => now === 1);
    slow.destroy();
    await until('the abandoned request is counted out', () => now === 0);
    release();
    await new Promise((r) => setTimeout(r, 50));
    assert.equal(now, 0, 'its late answer does not count it out a second time');
    body.end(Buffer.alloc(10));
    await until('the body finished', () => got.reduce((n, b) => n + b.length, 0) === 1034);
    assert.equal(now, 0);
  } finally {
    body.destroy();
    await app.close();
  }
});

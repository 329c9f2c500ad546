// One HTTP attempt against real servers on loopback: a 2xx is delivered; a redirect is not followed; the
// receiver's body never reaches the result (only the debug log); no answer in time fails with Kiln's own sentence.
import assert from 'node:assert/strict';
import { createServer, type RequestListener, type Server } from 'node:http';
import { after, describe, it } from 'node:test';
import { createMemoryLogger } from '../log/logger.js';
import { sendHttpHook } from './send-http-hook.js';

async function serve(handler: RequestListener): Promise<{ url: string; server: Server; hits: number }> {
  const s = { url: '', server: createServer(), hits: 0 };
  s.server.on('request', (req, res) => {
    s.hits++;
    handler(req, res);
  });
  await new Promise<void>((r) => s.server.listen(0, '127.0.0.1', r));
  s.url = `http://127.0.0.1:${(s.server.address() as { port: number }).port}/`;
  return s;
}

describe('sendHttpHook', () => {
  const servers: Server[] = [];
  after(() => {
    for (const s of servers) {
      s.closeAllConnections();
      s.close();
    }
  });
  const attempt = (url: string, timeoutMs = 2000) => ({
    url,
    secret: 'khs_test',
    deliveryId: 'd-1',
    kind: 'host.state',
    body: '{"x":1}',
    nowSec: Math.floor(Date.now() / 1000),
    timeoutMs,
  });

  it('2xx is delivered; a redirect is not followed; the receiver body stays in the debug log; a silent receiver times out', async () => {
    const elsewhere = await serve((_q, r) => r.end('ok'));
    const ok = await serve((_q, r) => r.writeHead(204).end());
    const redirect = await serve((_q, r) => r.writeHead(302, { location: elsewhere.url }).end());
    const failing = await serve((_q, r) => r.writeHead(500).end('internal detail: db password hunter2'));
    const silent = await serve(() => {});
    servers.push(elsewhere.server, ok.server, redirect.server, failing.server, silent.server);
    const log = createMemoryLogger();
    assert.deepEqual(await sendHttpHook(attempt(ok.url), log), { ok: true, status: 204 });
    assert.deepEqual(await sendHttpHook(attempt(redirect.url), log), {
      ok: false,
      status: 302,
      error: 'answered HTTP 302 (redirects are not followed)',
    });
    assert.equal(elsewhere.hits, 0, 'the redirect target was never called');
    const r = await sendHttpHook(attempt(failing.url), log);
    assert.deepEqual(r, { ok: false, status: 500, error: 'answered HTTP 500' });
    assert.ok(
      log.lines.some((l) => l.level === 'debug' && JSON.stringify(l.obj).includes('hunter2')),
      'debug log has it',
    );
    assert.deepEqual(await sendHttpHook(attempt(silent.url, 300), log), {
      ok: false,
      status: null,
      error: 'no answer within 300 ms',
    });
    const refused = await sendHttpHook(attempt('http://127.0.0.1:1/'), log);
    assert.deepEqual(refused, { ok: false, status: null, error: 'request failed: ECONNREFUSED' });
  });
});

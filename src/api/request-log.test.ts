import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { pino } from 'pino';
import { createTestController } from '../../test/support/controller.js';
import { loggedUrl, requestLogLevel, type RequestLogMode } from './request-log.js';

describe('access log', () => {
  const levels: Array<[string, string, number, RequestLogMode, 'info' | 'debug']> = [
    ['a successful GET is routine', 'GET', 200, 'changes', 'debug'],
    ['a successful HEAD is routine', 'HEAD', 304, 'changes', 'debug'],
    ['a change is at info', 'POST', 201, 'changes', 'info'],
    ['a refused GET is at info', 'GET', 401, 'changes', 'info'],
    ['a failed GET is at info', 'GET', 503, 'changes', 'info'],
    ['all: a successful GET is at info', 'GET', 200, 'all', 'info'],
  ];
  for (const [name, method, status, mode, want] of levels)
    it(`level: ${name}`, () => assert.equal(requestLogLevel(method, status, mode), want));

  const urls: Array<[string, string, Record<string, unknown>, string]> = [
    ['no query', '/api/v1/hosts', {}, '/api/v1/hosts'],
    ['filters are shown', '/api/v1/hosts?state=ready&tag=rack7', {}, '/api/v1/hosts?state=ready&tag=rack7'],
    [
      'a credential in the query is hidden',
      '/api/v1/x?key=abc&token=t1&limit=5',
      {},
      '/api/v1/x?key=***&token=***&limit=5',
    ],
    [
      'a credential in the path is hidden',
      '/api/v1/node/install/kit_abc/preseed.cfg?x=1',
      { token: 'kit_abc', name: 'preseed.cfg' },
      '/api/v1/node/install/***/preseed.cfg?x=1',
    ],
  ];
  for (const [name, url, params, want] of urls) it(`url: ${name}`, () => assert.equal(loggedUrl(url, params), want));

  async function linesFor(
    level: 'info' | 'debug',
    requests: Array<{ method: 'GET' | 'POST'; url: string; auth: boolean }>,
  ) {
    const lines: Array<Record<string, unknown>> = [];
    const httpLogger = pino({ level }, { write: (s: string) => void lines.push(JSON.parse(s)) });
    const c = await createTestController({ httpLogger });
    try {
      for (const r of requests)
        await c.app.inject({
          method: r.method,
          url: r.url,
          headers: r.auth ? { authorization: c.bearer.operator } : {},
          ...(r.method === 'POST' ? { payload: { name: 'logged', nics: [{ mac: '52:54:00:77:00:01' }] } } : {}),
        });
    } finally {
      await c.close();
    }
    return lines.filter((l) => l['msg'] === 'request' || /request|incoming/.test(String(l['msg'])));
  }

  it('one line per request at debug; at info only changes and errors', async () => {
    const requests = [
      { method: 'GET' as const, url: '/api/v1/hosts?limit=5', auth: true },
      { method: 'POST' as const, url: '/api/v1/hosts', auth: true },
      { method: 'GET' as const, url: '/api/v1/hosts', auth: false },
    ];
    const debug = (await linesFor('debug', requests)).filter((l) => l['msg'] === 'request');
    assert.deepEqual(
      debug.map((l) => [l['level'], l['method'], l['url'], l['status'], l['principal']]),
      [
        [20, 'GET', '/api/v1/hosts?limit=5', 200, 'token:t-operator'],
        [30, 'POST', '/api/v1/hosts', 201, 'token:t-operator'],
        [30, 'GET', '/api/v1/hosts', 401, 'anonymous'],
      ],
    );
    assert.ok(debug.every((l) => typeof l['ms'] === 'number' && typeof l['ip'] === 'string'));
    const info = await linesFor('info', requests);
    // Fastify's own "incoming request" and "request completed" lines are gone; the 401 keeps its "request failed".
    assert.deepEqual(
      info.map((l) => [l['msg'], l['method'], l['status']]),
      [
        ['request', 'POST', 201],
        ['request failed', undefined, undefined],
        ['request', 'GET', 401],
      ],
    );
  });
});

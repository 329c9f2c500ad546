// Every error the HTTP server answers, those raised by Node's parser and the
// router before any route runs included, has Kiln's body
// `{ error: { code, message, id } }`. Checked on a real listening server with
// raw requests, since inject() never produces 414/431 or parser errors.
import assert from 'node:assert/strict';
import { connect } from 'node:net';
import { after, before, describe, it } from 'node:test';
import { createTestController, type TestController } from '../../test/support/controller.js';

/** Sends raw bytes and returns what came back before the server closed (bounded by 5 s). */
function rawRequest(port: number, text: string): Promise<string> {
  return new Promise((resolve) => {
    const s = connect(port, '127.0.0.1', () => s.write(text));
    let got = '';
    const timer = setTimeout(() => s.destroy(), 5000);
    s.on('data', (d) => {
      got += d.toString();
    });
    s.on('error', () => undefined); // a reset after the answer is expected; what was read is checked below
    s.on('close', () => {
      clearTimeout(timer);
      resolve(got);
    });
  });
}

function parse(answer: string): { status: number; headers: string; body: unknown } {
  const [head, ...rest] = answer.split('\r\n\r\n');
  return {
    status: Number(/^HTTP\/1\.1 (\d{3})/.exec(head ?? '')?.[1]),
    headers: head ?? '',
    body: JSON.parse(rest.join('\r\n\r\n')),
  };
}

describe("every HTTP error answers Kiln's body, on a real server", () => {
  let c: TestController;
  let port = 0;
  before(async () => {
    c = await createTestController({ bodyLimit: 4096 });
    await c.app.listen({ host: '127.0.0.1', port: 0 });
    port = (c.app.server.address() as { port: number }).port;
  });
  after(async () => c.close());

  const req = (line: string, headers: string[] = [], body = '') =>
    `${line}\r\nHost: kiln\r\n${headers.map((h) => `${h}\r\n`).join('')}Connection: close\r\n\r\n${body}`;
  const cases: Array<{ name: string; text: () => string; status: number; code: string }> = [
    {
      name: 'path segment over 500 characters → 414',
      text: () => req(`GET /api/v1/hosts/${'a'.repeat(501)} HTTP/1.1`),
      status: 414,
      code: 'uri_too_long',
    },
    {
      name: 'URL over the 16 KiB header limit → 431',
      text: () => req(`GET /api/v1/hosts/${'a'.repeat(20_000)} HTTP/1.1`),
      status: 431,
      code: 'headers_too_large',
    },
    {
      name: 'one header over 16 KiB → 431',
      text: () => req('GET /api/v1/hosts HTTP/1.1', [`X-Big: ${'b'.repeat(20_000)}`]),
      status: 431,
      code: 'headers_too_large',
    },
    {
      name: 'broken percent-encoding in an API path → 400 bad_url',
      text: () => req('GET /api/v1/hosts/%E0%A4%A HTTP/1.1'),
      status: 400,
      code: 'bad_url',
    },
    {
      name: 'broken percent-encoding in a boot path → 400 bad_url',
      text: () => req('GET /boot/profiles/%E0%A4%A HTTP/1.1'),
      status: 400,
      code: 'bad_url',
    },
    {
      name: 'unknown method token → 400 bad_request',
      text: () => req('FOO /api/v1/hosts HTTP/1.1'),
      status: 400,
      code: 'bad_request',
    },
    { name: 'not HTTP at all → 400 bad_request', text: () => 'garbage\r\n\r\n', status: 400, code: 'bad_request' },
    {
      name: 'unknown path → 404 route_not_found',
      text: () => req('GET /api/v1/nowhere HTTP/1.1'),
      status: 404,
      code: 'route_not_found',
    },
    {
      name: 'known path, wrong method → 405 with Allow',
      text: () => req('DELETE /api/v1/health HTTP/1.1'),
      status: 405,
      code: 'method_not_allowed',
    },
    {
      name: 'known path with a parameter, wrong method → 405',
      text: () => req('POST /api/v1/hosts/h1 HTTP/1.1'),
      status: 405,
      code: 'method_not_allowed',
    },
    {
      name: 'XML body → 415',
      text: () =>
        req(
          'POST /api/v1/hosts HTTP/1.1',
          [`Authorization: ${c.bearer.operator}`, 'Content-Type: application/xml', 'Content-Length: 7'],
          '<host/>',
        ),
      status: 415,
      code: 'unsupported_media_type',
    },
    {
      name: 'body over body-limit → 413',
      text: () =>
        req(
          'POST /api/v1/hosts HTTP/1.1',
          [`Authorization: ${c.bearer.operator}`, 'Content-Type: application/json', 'Content-Length: 5000'],
          `"${'x'.repeat(4998)}"`,
        ),
      status: 413,
      code: 'payload_too_large',
    },
  ];
  for (const k of cases) {
    it(k.name, async () => {
      const answer = parse(await rawRequest(port, k.text()));
      assert.equal(answer.status, k.status);
      assert.match(answer.headers, /content-type: application\/json/i);
      const e = (answer.body as { error: Record<string, unknown> }).error;
      assert.deepEqual(Object.keys(answer.body as object), ['error']);
      assert.equal(e['code'], k.code);
      assert.equal(typeof e['message'], 'string');
      assert.match(String(e['id']), /^[0-9a-f-]{36}$/);
      if (k.code === 'method_not_allowed') assert.match(answer.headers, /\r\nallow: [A-Z, ]+/i);
    });
  }

  it('a host name of 253 characters still reaches its route (no 414)', async () => {
    const name = Array.from({ length: 4 }, () => 'a'.repeat(62))
      .join('.')
      .slice(0, 253);
    const answer = parse(
      await rawRequest(port, req(`GET /api/v1/hosts/${name} HTTP/1.1`, [`Authorization: ${c.bearer.viewer}`])),
    );
    assert.equal(answer.status, 404);
    assert.equal((answer.body as { error: { code: string } }).error.code, 'not_found');
  });
});

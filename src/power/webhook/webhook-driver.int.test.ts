// Webhook driver against a local node:http receiver on 127.0.0.1 that
// verifies the HMAC signature before acting, and keeps the machine's state.
import assert from 'node:assert/strict';
import { createServer, type Server } from 'node:http';
import { createServer as createTcpServer, type Socket } from 'node:net';
import { describe, it } from 'node:test';
import { hasCode } from '../../error/kiln-error.js';
import { createTestController } from '../../../test/support/controller.js';
import { createMemoryLogger } from '../../log/logger.js';
import { runPowerDriverConformance } from '../power-driver.conformance.js';
import { signatureHeader, timestampHeader, verifyWebhook } from './sign-webhook.js';
import { createWebhookDriver } from './webhook-driver.js';

const secret = 'hook-Secret-7';
const logger = createMemoryLogger();

async function startReceiver() {
  const state = {
    power: 'off' as 'on' | 'off',
    boot: undefined as string | undefined,
    rejected: 0,
    bodies: [] as Array<Record<string, unknown>>,
  };
  const server: Server = createServer((req, res) => {
    let body = '';
    req.on('data', (d) => {
      body += d;
    });
    req.on('end', () => {
      const ok = verifyWebhook(
        secret,
        Number(req.headers[timestampHeader]),
        body,
        String(req.headers[signatureHeader] ?? ''),
        Math.floor(Date.now() / 1000),
      );
      if (!ok) {
        state.rejected++;
        res.writeHead(401).end('bad signature');
        return;
      }
      const msg = JSON.parse(body) as Record<string, unknown>;
      state.bodies.push(msg);
      if (msg.action === 'on' || msg.action === 'cycle') state.power = 'on';
      if (msg.action === 'off' || msg.action === 'soft-off') state.power = 'off';
      if (msg.action === 'boot') state.boot = String(msg.device);
      res
        .writeHead(200, { 'content-type': 'application/json' })
        .end(JSON.stringify(msg.action === 'status' ? { state: state.power } : { ok: true }));
    });
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const base = `http://127.0.0.1:${(server.address() as { port: number }).port}`;
  return {
    state,
    base,
    stop: () =>
      new Promise<void>((r) => {
        server.closeAllConnections();
        server.close(() => r());
      }),
  };
}

const urlsFor = (base: string, keys = ['on', 'off', 'cycle', 'soft-off', 'status', 'boot']) =>
  Object.fromEntries(keys.map((k) => [k, `${base}/power/${k}`]));

let rx: Awaited<ReturnType<typeof startReceiver>>;
let hang: { port: number; close: () => Promise<void> };

runPowerDriverConformance({
  name: 'webhook (signed POSTs to a local receiver)',
  secret,
  capturedLogs: () => JSON.stringify(logger.lines),
  setup: async () => {
    rx = await startReceiver();
    const sockets = new Set<Socket>();
    const tcp = createTcpServer((s) => {
      sockets.add(s);
    }); // accepts, never answers
    await new Promise<void>((r) => tcp.listen(0, '127.0.0.1', r));
    hang = {
      port: (tcp.address() as { port: number }).port,
      close: () =>
        new Promise((r) => {
          for (const s of sockets) s.destroy();
          tcp.close(() => r());
        }),
    };
    return {
      driver: createWebhookDriver(
        { driver: 'webhook', address: 'rack1-node7', password: secret, options: { urls: urlsFor(rx.base) } },
        { logger },
      ),
      observePower: async () => rx.state.power,
      observeBoot: async () => rx.state.boot as 'network' | 'disk' | 'http' | undefined,
      cleanup: async () => {
        await rx.stop();
        await hang.close();
      },
    };
  },
  errorCases: [
    {
      name: 'wrong secret (receiver answers 401)',
      create: () =>
        createWebhookDriver(
          { driver: 'webhook', address: 'n', password: 'not-it', options: { urls: urlsFor(rx.base) } },
          { logger },
        ),
      code: 'bmc_error',
    },
    {
      name: 'receiver that never answers',
      create: () =>
        createWebhookDriver(
          {
            driver: 'webhook',
            address: 'n',
            password: secret,
            options: { timeoutMs: 400, urls: urlsFor(`http://127.0.0.1:${hang.port}`) },
          },
          { logger },
        ),
      code: 'bmc_timeout',
      withinMs: 3000,
    },
  ],
});

describe('webhook driver details', () => {
  it('offers only the actions it has URLs for, and signs a body naming the host', async () => {
    const r = await startReceiver();
    try {
      const d = createWebhookDriver({
        driver: 'webhook',
        address: 'rack1-node7',
        password: secret,
        options: { urls: urlsFor(r.base, ['on']) },
      });
      assert.deepEqual(d.capabilities.powerActions, ['on']);
      assert.equal(d.capabilities.status, false);
      await d.setPower('on');
      assert.deepEqual(r.state.bodies, [{ action: 'on', host: 'rack1-node7' }]);
      await assert.rejects(d.setPower('off'), (e) => hasCode(e, 'bmc_unsupported'));
      assert.equal(r.state.rejected, 0);
    } finally {
      await r.stop();
    }
  });
  it('rejects an unknown action name in options.urls', () => {
    assert.throws(
      () =>
        createWebhookDriver({ driver: 'webhook', address: 'n', options: { urls: { explode: 'http://127.0.0.1:1/' } } }),
      (e) => hasCode(e, 'validation_failed'),
    );
  });

  it('accepts only http(s) URLs without credentials, for every action key', () => {
    const refused = [
      'file:///etc/passwd',
      'ftp://127.0.0.1/x',
      'gopher://127.0.0.1:70/_x',
      'data:text/plain,x',
      'javascript:alert(1)',
      'ws://127.0.0.1/x',
      'unix:/run/x.sock',
      'http://admin:pw@127.0.0.1/x',
      'https://token@hooks.example/x',
      '/relative/path',
      'not a url',
    ];
    for (const key of ['on', 'off', 'cycle', 'soft-off', 'status', 'boot']) {
      for (const url of refused) {
        assert.throws(
          () => createWebhookDriver({ driver: 'webhook', address: 'n', options: { urls: { [key]: url } } }),
          (e) =>
            hasCode(e, 'validation_failed') &&
            (e as { issues: Array<{ code: string; path: string }> }).issues[0].code === 'url_refused' &&
            (e as { issues: Array<{ path: string }> }).issues[0].path === `/bmc/options/urls/${key}`,
          `${key}: ${url}`,
        );
      }
      for (const url of ['http://127.0.0.1:9/x', 'https://hooks.example/power?x=1', 'HTTP://[::1]:8080/']) {
        assert.doesNotThrow(
          () => createWebhookDriver({ driver: 'webhook', address: 'n', options: { urls: { [key]: url } } }),
          url,
        );
      }
    }
  });

  it('does not follow a redirect to another host (the signed POST goes to the configured URL only)', async () => {
    const other = await startReceiver();
    const redirector = createServer((req, res) => {
      req.resume();
      res.writeHead(307, { location: `${other.base}/power/on` }).end();
    });
    await new Promise<void>((r) => redirector.listen(0, '127.0.0.1', r));
    try {
      const url = `http://127.0.0.1:${(redirector.address() as { port: number }).port}/power/on`;
      const d = createWebhookDriver({
        driver: 'webhook',
        address: 'n',
        password: secret,
        options: { urls: { on: url } },
      });
      await assert.rejects(
        d.setPower('on'),
        (e) => hasCode(e, 'bmc_error') && /HTTP 307 \(redirects are not followed\)/.test((e as Error).message),
      );
      assert.deepEqual(other.state.bodies, [], 'the other host got nothing');
      assert.equal(other.state.rejected, 0);
    } finally {
      redirector.closeAllConnections();
      await new Promise((r) => redirector.close(r));
      await other.stop();
    }
  });

  it("keeps the receiver's reply body out of errors and events; it is logged at debug", async () => {
    const peerText = 'PEER-BODY internal: db password is hunter2, see http://10.0.0.9/admin';
    const server = createServer((req, res) => {
      req.resume();
      req.on('end', () => {
        if (req.url === '/status')
          res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify({ note: peerText }));
        else res.writeHead(500, { 'content-type': 'text/plain' }).end(peerText);
      });
    });
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    const base = `http://127.0.0.1:${(server.address() as { port: number }).port}`;
    const log = createMemoryLogger();
    const c = await createTestController({ log });
    try {
      const bmc = {
        driver: 'webhook',
        address: 'rack1-node9',
        password: secret,
        options: { urls: { on: `${base}/on`, status: `${base}/status` } },
      };
      const add = await c.app.inject({
        method: 'POST',
        url: '/api/v1/hosts',
        payload: { name: 'hooked', bmc },
        headers: { authorization: c.bearer.operator },
      });
      assert.equal(add.statusCode, 201, add.body);
      const on = await c.app.inject({
        method: 'POST',
        url: '/api/v1/hosts/hooked/power',
        payload: { action: 'on' },
        headers: { authorization: c.bearer.operator },
      });
      assert.equal(on.statusCode, 502, on.body);
      assert.equal(on.json().error.message, 'power webhook on answered HTTP 500');
      const st = await c.app.inject({
        method: 'GET',
        url: '/api/v1/hosts/hooked/power',
        headers: { authorization: c.bearer.viewer },
      });
      assert.equal(st.statusCode, 502, st.body);
      const events = await c.app.inject({
        method: 'GET',
        url: '/api/v1/hosts/hooked/events?limit=100',
        headers: { authorization: c.bearer.viewer },
      });
      assert.ok(events.json().items.some((e: { kind: string }) => e.kind === 'power.failed'));
      for (const [what, text] of [
        ['replies', on.body + st.body],
        ['events', events.body],
      ] as const) {
        assert.ok(!text.includes('PEER-BODY') && !text.includes('hunter2'), `the receiver's body is in the ${what}`);
      }
      assert.ok(
        log.lines.some((l) => l.level === 'debug' && JSON.stringify(l.obj).includes('PEER-BODY')),
        'the body is in the debug log',
      );
    } finally {
      await c.close();
      server.closeAllConnections();
      await new Promise((r) => server.close(r));
    }
  });
});

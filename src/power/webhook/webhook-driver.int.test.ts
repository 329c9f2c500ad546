// Webhook driver against a local node:http receiver on 127.0.0.1 that
// verifies the HMAC signature before acting, and keeps the machine's state.
import assert from 'node:assert/strict';
import { createServer, type Server } from 'node:http';
import { createServer as createTcpServer, type Socket } from 'node:net';
import { describe, it } from 'node:test';
import { hasCode } from '../../error/kiln-error.js';
import { createMemoryLogger } from '../../log/logger.js';
import { runPowerDriverConformance } from '../power-driver.conformance.js';
import { signatureHeader, timestampHeader, verifyWebhook } from './sign-webhook.js';
import { createWebhookDriver } from './webhook-driver.js';

const secret = 'hook-Secret-7';
const logger = createMemoryLogger();

async function startReceiver() {
  const state = { power: 'off' as 'on' | 'off', boot: undefined as string | undefined, rejected: 0, bodies: [] as Array<Record<string, unknown>> };
  const server: Server = createServer((req, res) => {
    let body = '';
    req.on('data', (d) => { body += d; });
    req.on('end', () => {
      const ok = verifyWebhook(secret, Number(req.headers[timestampHeader]), body, String(req.headers[signatureHeader] ?? ''), Math.floor(Date.now() / 1000));
      if (!ok) { state.rejected++; res.writeHead(401).end('bad signature'); return; }
      const msg = JSON.parse(body) as Record<string, unknown>;
      state.bodies.push(msg);
      if (msg.action === 'on' || msg.action === 'cycle') state.power = 'on';
      if (msg.action === 'off' || msg.action === 'soft-off') state.power = 'off';
      if (msg.action === 'boot') state.boot = String(msg.device);
      res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify(msg.action === 'status' ? { state: state.power } : { ok: true }));
    });
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const base = `http://127.0.0.1:${(server.address() as { port: number }).port}`;
  return { state, base, stop: () => new Promise<void>((r) => { server.closeAllConnections(); server.close(() => r()); }) };
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
    const tcp = createTcpServer((s) => { sockets.add(s); }); // accepts, never answers
    await new Promise<void>((r) => tcp.listen(0, '127.0.0.1', r));
    hang = { port: (tcp.address() as { port: number }).port, close: () => new Promise((r) => { for (const s of sockets) s.destroy(); tcp.close(() => r()); }) };
    return {
      driver: createWebhookDriver({ driver: 'webhook', address: 'rack1-node7', password: secret, options: { urls: urlsFor(rx.base) } }, { logger }),
      observePower: async () => rx.state.power,
      observeBoot: async () => rx.state.boot as 'network' | 'disk' | 'http' | undefined,
      cleanup: async () => { await rx.stop(); await hang.close(); },
    };
  },
  errorCases: [
    { name: 'wrong secret (receiver answers 401)', create: () => createWebhookDriver({ driver: 'webhook', address: 'n', password: 'not-it', options: { urls: urlsFor(rx.base) } }, { logger }), code: 'bmc_error' },
    { name: 'receiver that never answers', create: () => createWebhookDriver({ driver: 'webhook', address: 'n', password: secret, options: { timeoutMs: 400, urls: urlsFor(`http://127.0.0.1:${hang.port}`) } }, { logger }), code: 'bmc_timeout', withinMs: 3000 },
  ],
});

describe('webhook driver details', () => {
  it('offers only the actions it has URLs for, and signs a body naming the host', async () => {
    const r = await startReceiver();
    try {
      const d = createWebhookDriver({ driver: 'webhook', address: 'rack1-node7', password: secret, options: { urls: urlsFor(r.base, ['on']) } });
      assert.deepEqual(d.capabilities.powerActions, ['on']);
      assert.equal(d.capabilities.status, false);
      await d.setPower('on');
      assert.deepEqual(r.state.bodies, [{ action: 'on', host: 'rack1-node7' }]);
      await assert.rejects(d.setPower('off'), (e) => hasCode(e, 'bmc_unsupported'));
      assert.equal(r.state.rejected, 0);
    } finally { await r.stop(); }
  });
  it('rejects an unknown action name in options.urls', () => {
    assert.throws(() => createWebhookDriver({ driver: 'webhook', address: 'n', options: { urls: { explode: 'http://127.0.0.1:1/' } } }), (e) => hasCode(e, 'validation_failed'));
  });
});

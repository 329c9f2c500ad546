// Test support: a real HTTP hook receiver on loopback, and the scenario both
// store engines run against a real `kiln serve`: each host state change
// arrives signed and once by delivery id, also across a SIGKILL of the
// controller while the receiver holds a delivery open.
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import { join } from 'node:path';
import { verifyWebhook } from '../../src/power/webhook/sign-webhook.js';
import { killChild, stopChild } from './process.js';
import { startServe, type ServeProcess } from './serve-process.js';

/** One request the receiver got, with its signature checked against `secret`. */
export interface Received {
  deliveryId: string;
  kind: string;
  seq: number;
  signed: boolean;
  at: number;
}

/** A receiver: answers 200, or holds requests open while `hold` is on (they are never answered). */
export async function startReceiver(secret: () => string) {
  const got: Received[] = [];
  const held: ServerResponse[] = [];
  let hold = false;
  let onHeld: (() => void) | null = null;
  const server = createServer((req: IncomingMessage, res: ServerResponse) => {
    let body = '';
    req.setEncoding('utf8');
    req.on('data', (d: string) => (body += d));
    req.on('error', () => {}); // the controller is SIGKILLed mid-request on purpose
    req.on('end', () => {
      const ts = Number(req.headers['x-kiln-timestamp']);
      const parsed = JSON.parse(body) as { deliveryId: string; event: { seq: number; kind: string } };
      got.push({
        deliveryId: String(req.headers['x-kiln-delivery']),
        kind: parsed.event.kind,
        seq: parsed.event.seq,
        signed:
          parsed.deliveryId === req.headers['x-kiln-delivery'] &&
          verifyWebhook(secret(), ts, body, String(req.headers['x-kiln-signature']), Math.floor(Date.now() / 1000)),
        at: Date.now(),
      });
      if (hold) {
        held.push(res);
        onHeld?.();
        return;
      }
      res.writeHead(200, { 'content-type': 'text/plain' }).end('ok');
    });
  });
  server.on('clientError', () => {});
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const port = (server.address() as { port: number }).port;
  return {
    url: `http://127.0.0.1:${port}/hook`,
    got,
    /** Hold the next requests open; resolves when one is held. */
    holdNext(): Promise<void> {
      hold = true;
      return new Promise((r) => (onHeld = r));
    },
    release() {
      hold = false;
      for (const r of held.splice(0)) r.destroy();
    },
    close: () =>
      new Promise<void>((r) => {
        server.closeAllConnections();
        server.close(() => r());
      }),
  };
}

export type Api = <T>(method: string, path: string, body?: unknown) => Promise<T>;

function apiOf(s: ServeProcess, token: string): Api {
  return async <T>(method: string, path: string, body?: unknown) => {
    const res = await fetch(`${s.url}${path}`, {
      method,
      headers: { authorization: `Bearer ${token}`, ...(body ? { 'content-type': 'application/json' } : {}) },
      body: body ? JSON.stringify(body) : undefined,
      signal: AbortSignal.timeout(10_000),
    });
    const text = await res.text();
    if (!res.ok) throw new Error(`${method} ${path}: ${res.status} ${text}`);
    return (text ? JSON.parse(text) : undefined) as T;
  };
}

/** Waits (bounded) until `done()` holds, polling. */
export async function until(what: string, done: () => boolean | Promise<boolean>, ms = 60_000): Promise<void> {
  const deadline = Date.now() + ms;
  while (Date.now() < deadline) {
    if (await done()) return;
    await new Promise((r) => setTimeout(r, 100));
  }
  throw new Error(`timed out waiting for ${what}`);
}

/** The host events the store holds after `after`, by position. */
async function hostEvents(api: Api, after: number): Promise<Array<{ seq: number; kind: string }>> {
  return (
    await api<{ items: Array<{ seq: number; kind: string }> }>(
      'GET',
      `/api/v1/events?kind=host.&after=${after}&limit=1000`,
    )
  ).items;
}

/**
 * The whole scenario: `serveArgs` picks the store (a data dir, and a
 * PostgreSQL URL or not). Returns what was received, for engine-specific checks.
 */
export async function runHookScenario(o: {
  dataDir: string;
  serveArgs: string[];
  log: (s: string) => void;
  /** Runs after phase 1, before the SIGKILL. */
  beforeKill?: (api: Api, cli: { KILN_SERVER: string; KILN_TOKEN: string }) => Promise<void>;
}) {
  let secret = '';
  const rx = await startReceiver(() => secret);
  let serve: ServeProcess | undefined;
  try {
    serve = await startServe(o.serveArgs);
    const token = readFileSync(join(o.dataDir, 'admin-token'), 'utf8').trim();
    let api = apiOf(serve, token);
    const made = await api<{ secret: string; hook: { id: string } }>('POST', '/api/v1/hooks', {
      name: 'rx',
      url: rx.url,
      kinds: ['host.'],
    });
    secret = made.secret;
    const shown = await api<{ items: Array<Record<string, unknown>> }>('GET', '/api/v1/hooks');
    assert.ok(!JSON.stringify(shown).includes(secret), 'the secret is never returned again');
    const start = (await api<{ items: Array<{ seq: number }> }>('GET', '/api/v1/events?order=desc&limit=1')).items[0]
      .seq;
    await api('POST', '/api/v1/hosts', { name: 'hooked-1', nics: [{ mac: '52:54:00:aa:00:01' }] });
    for (const state of ['discovering', 'ready', 'retired', 'new', 'ready'])
      await api('POST', '/api/v1/hosts/hooked-1/state', { state });
    let want = await hostEvents(api, start);
    assert.equal(want.length, 6, 'host.created and five host.state');
    await until('the first six events', () => new Set(rx.got.map((g) => g.seq)).size >= 6);
    o.log(`phase 1: ${rx.got.length} requests for ${want.length} events`);

    await o.beforeKill?.(api, { KILN_SERVER: serve.url, KILN_TOKEN: token });
    // Phase 2: the receiver holds the next delivery open; the controller is SIGKILLed mid-delivery.
    const held = rx.holdNext();
    for (const state of ['discovering', 'ready', 'retired'])
      await api('POST', '/api/v1/hosts/hooked-1/state', { state });
    await held;
    const heldId = rx.got.at(-1)!.deliveryId;
    killChild(serve.child);
    await serve.exited;
    rx.release();
    serve = await startServe(o.serveArgs);
    api = apiOf(serve, token);
    want = await hostEvents(api, start);
    assert.equal(want.length, 9);
    await until(
      'every event after the restart',
      () =>
        want.every((w) => rx.got.some((g) => g.seq === w.seq)) &&
        rx.got.filter((g) => g.deliveryId === heldId).length >= 2,
      90_000,
    );
    const deliveries = await api<{ items: Array<{ id: string; eventSeq: number; status: string; attempts: number }> }>(
      'GET',
      '/api/v1/hooks/rx/deliveries',
    );
    await until('the history to say delivered', async () => {
      const d = await api<{ items: Array<{ status: string }> }>('GET', '/api/v1/hooks/rx/deliveries');
      return d.items.length === 9 && d.items.every((x) => x.status === 'delivered');
    });
    // Metrics: attempts by outcome on this (restarted) controller; the queue in the store drains to 0
    // (executable hooks killed with the controller wait for their claims to run out).
    let metrics = '';
    await until('the hook queue to drain', async () => {
      metrics = await (await fetch(`${serve!.url}/metrics`, { headers: { authorization: `Bearer ${token}` } })).text();
      return /^kiln_hook_queue\{status="pending"\} 0$/m.test(metrics);
    });
    assert.match(metrics, /^kiln_hook_deliveries_total\{outcome="delivered"\} [1-9]/m);
    assert.match(metrics, /^kiln_hook_queue\{status="delivered"\} [1-9]/m);
    o.log(
      `phase 2: ${rx.got.length} requests; held delivery ${heldId} sent ${rx.got.filter((g) => g.deliveryId === heldId).length} times`,
    );
    return { rx, want, heldId, deliveries: deliveries.items, serve, api };
  } catch (err) {
    o.log(serve?.output() ?? '');
    throw err;
  } finally {
    await stopChild(serve?.child);
    await rx.close();
  }
}

/** What must hold on any engine: each event signed, once per delivery id, and every event delivered. */
export function assertExactlyOnce(r: Awaited<ReturnType<typeof runHookScenario>>): void {
  assert.ok(
    r.rx.got.every((g) => g.signed),
    'every request verifies with the secret',
  );
  const idsBySeq = new Map<number, Set<string>>();
  for (const g of r.rx.got) idsBySeq.set(g.seq, (idsBySeq.get(g.seq) ?? new Set()).add(g.deliveryId));
  for (const w of r.want)
    assert.equal(idsBySeq.get(w.seq)?.size, 1, `event ${w.seq} arrived under exactly one delivery id`);
  assert.deepEqual(
    [...idsBySeq.keys()].sort((a, b) => a - b),
    r.want.map((w) => w.seq),
    'no other event arrived',
  );
  const repeats = r.rx.got.filter((g) => g.deliveryId === r.heldId);
  assert.ok(repeats.length >= 2, 'the delivery held at the kill was sent again');
  // Deduplicated by delivery id, the receiver applied each event once.
  assert.equal(new Set(r.rx.got.map((g) => g.deliveryId)).size, r.want.length);
}

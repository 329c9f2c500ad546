// A small in-memory implementation of the node API contract (docs/discovery.md)
// for tests that boot the real agent in QEMU: it enrols, issues credentials,
// records every call and serves image files. Not for production.
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import { createReadStream, statSync } from 'node:fs';
import type { AddressInfo } from 'node:net';

/** One request the fake received; `body` is the parsed JSON body or undefined. */
export interface NodeApiCall {
  method: string;
  path: string;
  authorization: string | undefined;
  body: unknown;
  at: number;
}

/** Behaviour of the fake: the install plan to hand out and the discover-mode next action. */
export interface FakeNodeApiOptions {
  host: string;
  /** Builds the answer of GET /node/install-plan from the fake's base URL (so it can point at `files`). */
  installPlan?: (baseUrl: string) => Record<string, unknown>;
  /** Answer of GET /node/next; default "wait". May change over time via `setNextAction`. */
  nextAction?: 'wait' | 'reboot' | 'poweroff';
  /** URL path → local file, served with GET (e.g. "/images/test.tar.gz"). */
  files?: Record<string, string>;
}

/** A running fake; `close` stops it. `waitFor` polls `calls` until `pred` holds or `timeoutMs` passes. */
export interface FakeNodeApi {
  url: string;
  calls: NodeApiCall[];
  credential: string;
  setNextAction(a: 'wait' | 'reboot' | 'poweroff'): void;
  waitFor(pred: (c: NodeApiCall) => boolean, timeoutMs: number): Promise<NodeApiCall>;
  close(): Promise<void>;
}

function readBody(req: IncomingMessage): Promise<unknown> {
  return new Promise((resolve) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const text = Buffer.concat(chunks).toString('utf8');
      try { resolve(text === '' ? undefined : JSON.parse(text)); } catch { resolve({ unparsable: text }); }
    });
  });
}

/** Starts the fake on `host`, a random port. */
export async function startFakeNodeApi(opts: FakeNodeApiOptions): Promise<FakeNodeApi> {
  const calls: NodeApiCall[] = [];
  const credential = 'kn_test_' + Math.random().toString(36).slice(2);
  let next = opts.nextAction ?? 'wait';
  let enrolled = false;
  let baseUrl = '';
  const json = (res: ServerResponse, status: number, body: unknown): void => {
    res.writeHead(status, { 'content-type': 'application/json' }).end(JSON.stringify(body));
  };
  const server = createServer((req, res) => {
    void (async () => {
      const path = (req.url ?? '/').split('?')[0] ?? '/';
      const call: NodeApiCall = { method: req.method ?? '', path, authorization: req.headers.authorization, body: await readBody(req), at: Date.now() };
      calls.push(call);
      const authorized = call.authorization === `Bearer ${credential}`;
      const file = opts.files?.[path];
      if (req.method === 'GET' && file !== undefined) {
        res.writeHead(200, { 'content-length': statSync(file).size });
        createReadStream(file).pipe(res);
        return;
      }
      switch (`${req.method} ${path}`) {
        case 'POST /api/v1/node/discover':
          json(res, 200, { hostId: 'h-1', name: 'node-1', ...(enrolled ? {} : { credential }) }); enrolled = true; return;
        case 'POST /api/v1/node/enrol':
          json(res, 200, { hostId: 'h-1', credential }); enrolled = true; return;
      }
      if (!authorized) { json(res, 401, { code: 'credential_invalid', message: 'bad credential' }); return; }
      switch (`${req.method} ${path}`) {
        case 'GET /api/v1/node/next': json(res, 200, { action: next }); return;
        case 'GET /api/v1/node/install-plan': json(res, 200, opts.installPlan?.(baseUrl) ?? {}); return;
        case 'POST /api/v1/node/progress':
        case 'POST /api/v1/node/complete':
        case 'POST /api/v1/node/failed': json(res, 200, { ok: true }); return;
        default: json(res, 404, { code: 'route_not_found', message: path });
      }
    })();
  });
  await new Promise<void>((resolve) => server.listen(0, opts.host, resolve));
  const port = (server.address() as AddressInfo).port;
  baseUrl = `http://${opts.host}:${port}`;
  return {
    url: baseUrl,
    calls,
    credential,
    setNextAction: (a) => { next = a; },
    async waitFor(pred, timeoutMs) {
      const deadline = Date.now() + timeoutMs;
      for (;;) {
        const hit = calls.find(pred);
        if (hit !== undefined) return hit;
        if (Date.now() > deadline) throw new Error(`fake node API: no matching call within ${timeoutMs} ms; saw ${calls.map((c) => `${c.method} ${c.path}`).join(', ')}`);
        await new Promise((r) => setTimeout(r, 250).unref()); // never keeps a finished test alive
      }
    },
    close: () => new Promise<void>((resolve) => { server.closeAllConnections(); server.close(() => resolve()); }),
  };
}

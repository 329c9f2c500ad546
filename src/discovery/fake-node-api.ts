// A small in-memory implementation of the node API contract (docs/discovery.md)
// for tests that boot the real agent in QEMU: it enrols, issues credentials,
// records every call and serves image files. With `tls` it also answers on
// HTTPS, where the writer's late step fetches secrets and host certificates
// (as the controller, it refuses those over plain HTTP). Not for production.
import { createServer, type IncomingMessage, type RequestListener, type ServerResponse } from 'node:http';
import { createServer as createHttpsServer } from 'node:https';
import { createReadStream, statSync } from 'node:fs';
import type { AddressInfo } from 'node:net';

/** One request the fake received; `body` is the parsed JSON body or undefined. */
export interface NodeApiCall {
  method: string;
  path: string;
  authorization: string | undefined;
  body: unknown;
  /** The raw request body. */
  text: string;
  /** The caller's address and whether it came over HTTPS. */
  ip: string;
  tls: boolean;
  at: number;
}

/** Behaviour of the fake: the install plan to hand out and the discover-mode next action. */
export interface FakeNodeApiOptions {
  host: string;
  /** Builds the answer of GET /node/install-plan from the fake's base URL (so it can point at `files`) and its HTTPS URL ('' without `tls`). */
  installPlan?: (baseUrl: string, apiUrl: string) => Record<string, unknown>;
  /** Answer of GET /node/next; default "wait". May change over time via `setNextAction`. */
  nextAction?: 'wait' | 'reboot' | 'poweroff';
  /** URL path → local file, served with GET (e.g. "/images/test.tar.gz"). */
  files?: Record<string, string>;
  /** Serve HTTPS too (on its own port, `apiUrl`) with this certificate chain and key. */
  tls?: { certPem: string; keyPem: string };
  /** GET /node/secrets (HTTPS only): what the controller would answer. */
  secrets?: { rootPasswordHash: string | null; authorizedKeys: string[] };
  /** POST /node/ssh/host-certificates (HTTPS only): signs one public key line for the caller's address, returns the certificate line. */
  signHostKey?: (publicKeyLine: string, callerIp: string) => string;
}

/** A running fake; `close` stops it. `waitFor` polls `calls` until `pred` holds or `timeoutMs` passes. */
export interface FakeNodeApi {
  url: string;
  /** The HTTPS base URL when `tls` was given, else ''. */
  apiUrl: string;
  calls: NodeApiCall[];
  credential: string;
  setNextAction(a: 'wait' | 'reboot' | 'poweroff'): void;
  waitFor(pred: (c: NodeApiCall) => boolean, timeoutMs: number): Promise<NodeApiCall>;
  close(): Promise<void>;
}

function readBody(req: IncomingMessage): Promise<{ body: unknown; text: string }> {
  return new Promise((resolve) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const text = Buffer.concat(chunks).toString('utf8');
      try {
        resolve({ text, body: text === '' ? undefined : JSON.parse(text) });
      } catch {
        resolve({ text, body: { unparsable: text } });
      }
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
  let apiUrl = '';
  const json = (res: ServerResponse, status: number, body: unknown): void => {
    res.writeHead(status, { 'content-type': 'application/json' }).end(JSON.stringify(body));
  };
  const handler: RequestListener = (req, res) => {
    void (async () => {
      const path = (req.url ?? '/').split('?')[0] ?? '/';
      const { body, text } = await readBody(req);
      const tls = 'encrypted' in req.socket && req.socket.encrypted === true;
      const call: NodeApiCall = {
        method: req.method ?? '',
        path,
        authorization: req.headers.authorization,
        body,
        text,
        ip: req.socket.remoteAddress ?? '',
        tls,
        at: Date.now(),
      };
      calls.push(call);
      const authorized = call.authorization === `Bearer ${credential}`;
      const file = opts.files?.[path];
      if (req.method === 'GET' && file !== undefined) {
        res.writeHead(200, { 'content-length': statSync(file).size });
        createReadStream(file).pipe(res);
        return;
      }
      switch (`${req.method} ${path}`) {
        case 'GET /api/v1/health':
          json(res, 200, { status: 'ok' });
          return;
        case 'POST /api/v1/node/discover':
          json(res, 200, { hostId: 'h-1', name: 'node-1', ...(enrolled ? {} : { credential }) });
          enrolled = true;
          return;
        case 'POST /api/v1/node/enrol':
          json(res, 200, { hostId: 'h-1', credential });
          enrolled = true;
          return;
      }
      if (!authorized) {
        json(res, 401, { code: 'credential_invalid', message: 'bad credential' });
        return;
      }
      switch (`${req.method} ${path}`) {
        case 'GET /api/v1/node/next':
          json(res, 200, { action: next });
          return;
        case 'GET /api/v1/node/install-plan':
          json(res, 200, opts.installPlan?.(baseUrl, apiUrl) ?? {});
          return;
        case 'POST /api/v1/node/progress':
        case 'POST /api/v1/node/complete':
        case 'POST /api/v1/node/failed':
          json(res, 200, { ok: true });
          return;
      }
      if ((path === '/api/v1/node/secrets' || path === '/api/v1/node/ssh/host-certificates') && !tls) {
        json(res, 403, {
          error: { code: 'forbidden', message: 'node secrets are served over HTTPS only', id: 'fake' },
        });
        return;
      }
      switch (`${req.method} ${path}`) {
        case 'GET /api/v1/node/secrets': {
          const s = opts.secrets ?? { rootPasswordHash: null, authorizedKeys: [] };
          const lines = [
            ...(s.rootPasswordHash ? [`root-password-hash ${s.rootPasswordHash}`] : []),
            ...s.authorizedKeys.map((k) => `authorized-key ${k}`),
          ];
          res.writeHead(200, { 'content-type': 'text/plain; charset=utf-8' }).end(lines.map((l) => `${l}\n`).join(''));
          return;
        }
        case 'POST /api/v1/node/ssh/host-certificates': {
          const keys = text
            .split('\n')
            .map((l) => l.trim())
            .filter((l) => l !== '');
          if (!opts.signHostKey || keys.length === 0) {
            json(res, 400, { error: { code: 'validation_failed', message: 'no key to sign', id: 'fake' } });
            return;
          }
          res
            .writeHead(200, { 'content-type': 'text/plain; charset=utf-8' })
            .end(keys.map((k) => `${opts.signHostKey!(k, call.ip.replace(/^::ffff:/, ''))}\n`).join(''));
          return;
        }
        default:
          json(res, 404, { code: 'route_not_found', message: path });
      }
    })();
  };
  const server = createServer(handler);
  const https = opts.tls ? createHttpsServer({ cert: opts.tls.certPem, key: opts.tls.keyPem }, handler) : null;
  await new Promise<void>((resolve) => server.listen(0, opts.host, resolve));
  if (https) await new Promise<void>((resolve) => https.listen(0, opts.host, resolve));
  const port = (server.address() as AddressInfo).port;
  baseUrl = `http://${opts.host}:${port}`;
  apiUrl = https ? `https://${opts.host}:${(https.address() as AddressInfo).port}` : '';
  return {
    url: baseUrl,
    apiUrl,
    calls,
    credential,
    setNextAction: (a) => {
      next = a;
    },
    async waitFor(pred, timeoutMs) {
      const deadline = Date.now() + timeoutMs;
      for (;;) {
        const hit = calls.find(pred);
        if (hit !== undefined) return hit;
        if (Date.now() > deadline)
          throw new Error(
            `fake node API: no matching call within ${timeoutMs} ms; saw ${calls.map((c) => `${c.method} ${c.path}`).join(', ')}`,
          );
        await new Promise((r) => setTimeout(r, 250).unref()); // never keeps a finished test alive
      }
    },
    close: async () => {
      for (const srv of https ? [server, https] : [server])
        await new Promise<void>((resolve) => {
          srv.closeAllConnections();
          srv.close(() => resolve());
        });
    },
  };
}

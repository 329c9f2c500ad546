// The fast path answers exactly as the Fastify routes do: one app with it and
// one without, each over a real loopback socket and its own copy of the same
// boot backend, get the same requests; status, headers (but Date), body (but
// the error id), the metrics call and the timeline exchange must match.
import assert from 'node:assert/strict';
import { Agent, request } from 'node:http';
import type { AddressInfo } from 'node:net';
import { describe, it } from 'node:test';
import { buildApp, domain, type HttpExchange } from '../../api/build-app.js';
import { KilnError } from '../../error/kiln-error.js';
import type { Host } from '../../inventory/host.js';
import { createMemoryLogger } from '../../log/logger.js';
import type { Mac } from '../../net/mac.js';
import type { BootBackend, BootDeployment } from '../boot-backend.js';
import { createBootFastPath, parseScriptQuery } from './boot-fast-path.js';
import { bootRoutes } from './boot-routes.js';
import { createBootService } from './boot-service.js';

const mac = (n: number) => `52:54:00:00:00:${n.toString(16).padStart(2, '0')}` as Mac;
const host = (n: number, state: Host['state']): Host => ({
  id: `h${n}`,
  name: `node-${n}`,
  state,
  stateReason: state === 'failed' ? 'disk gone' : null,
  failedStage: null,
  profile: null,
  firmware: 'bios',
  nics: [{ mac: mac(n), name: null, boot: true }],
  tags: [],
  labels: {},
  facts: {},
  hardwareHash: null,
  needsAttention: false,
  bmc: null,
  version: 1,
  createdAt: '',
  updatedAt: '',
});
const deployment: BootDeployment = {
  id: 'd3',
  profile: 'debian-12',
  status: 'deploying',
  bootSpec: { kernel: 'http://m/linux', initrd: ['http://m/initrd.gz'], cmdline: 'auto=true token=kit_TOKEN' },
};

/** A fresh boot backend: 1 deployed, 2 new, 3 deploying, 4 failed; 9 refused by source, 10 rate limited, 11 and 12 break. */
function backend(): BootBackend {
  const hosts = new Map<Mac, Host>([
    [mac(1), host(1, 'deployed')],
    [mac(2), host(2, 'new')],
    [mac(3), host(3, 'deploying')],
    [mac(4), host(4, 'failed')],
  ]);
  return {
    hostByMac: async (m) => {
      if (m === mac(12)) throw new Error('store unavailable');
      return hosts.get(m) ?? null;
    },
    checkSource: async (m) =>
      m === mac(9) ? { ok: false, code: 'discovery_refused', reason: 'address not leased to this MAC' } : { ok: true },
    enrolUnknown: (m) => {
      if (m === mac(10)) return { ok: false, code: 'rate_limited', reason: 'too many unknown machines; retry' };
      if (m === mac(11)) return { ok: true, host: Promise.reject(new Error('disk full')) };
      const h = { ...host(Number.parseInt(m.slice(-2), 16), 'new'), nics: [{ mac: m, name: null, boot: true }] };
      hosts.set(m, h);
      return { ok: true, host: Promise.resolve(h) };
    },
    beginDiscovery: async (h) => {
      const moved = { ...h, state: 'discovering' as const, version: h.version + 1 };
      hosts.set(h.nics[0].mac, moved);
      return moved;
    },
    bootDeployment: async (id) => (id === 'h3' ? deployment : null),
    fillInstallToken: (d) => ({
      ...d,
      bootSpec: { ...d.bootSpec, cmdline: d.bootSpec.cmdline.replace('TOKEN', d.id) },
    }),
    recordEvent: async () => {},
    noteEvent: () => {},
    flushEvents: async () => {},
  };
}

interface Served {
  port: number;
  agent: Agent;
  metrics: unknown[][];
  exchanges: HttpExchange[];
  taken: string[];
  /** Requests in flight now, and every request counted in. */
  counted: { now: number; taken: number };
  log: ReturnType<typeof createMemoryLogger>;
  close(): Promise<void>;
}

async function serve(withFastPath: boolean): Promise<Served> {
  const boot = createBootService({
    backend: backend(),
    baseUrl: () => 'http://192.0.2.1:8080',
    nodeImage: () => ({ arch: 'x86_64' }),
  });
  const metrics: unknown[][] = [];
  const exchanges: HttpExchange[] = [];
  const taken: string[] = [];
  const counted = { now: 0, taken: 0 };
  const log = createMemoryLogger();
  const onResponse = (method: string, route: string, status: number, seconds: number) => {
    assert.ok(seconds >= 0 && seconds < 60);
    metrics.push([method, route, status]);
  };
  const onExchange = (x: HttpExchange) => exchanges.push(x);
  const inFlight = (delta: 1 | -1) => {
    counted.now += delta;
    if (delta === 1) counted.taken++;
  };
  const fast = createBootFastPath({ boot, onResponse, onExchange, inFlight, log });
  const app = await buildApp({
    auth: {
      token: async () => {
        throw new KilnError('unauthenticated', 'no tokens here');
      },
    },
    plugins: [domain(bootRoutes, { boot }, '')],
    onResponse,
    onExchange,
    inFlight,
    ...(withFastPath
      ? {
          fastPath: (req, res) => {
            const answered = fast(req, res);
            if (answered) taken.push(`${req.method} ${req.url}`);
            return answered;
          },
        }
      : {}),
  });
  await app.listen({ port: 0, host: '127.0.0.1' });
  const { port } = app.server.address() as AddressInfo;
  const agent = new Agent({ keepAlive: true, maxSockets: 1 });
  return {
    port,
    agent,
    metrics,
    exchanges,
    taken,
    counted,
    log,
    close: async () => {
      agent.destroy();
      await app.close();
    },
  };
}

interface Answer {
  status: number;
  headers: Record<string, string | string[] | undefined>;
  body: string;
}

function fetchOnce(s: Served, method: string, path: string, headers: Record<string, string> = {}): Promise<Answer> {
  return new Promise((resolve, reject) => {
    // `path` as written (a URL would drop an empty query's `?`).
    const options = { host: '127.0.0.1', port: s.port, path, method, agent: s.agent, headers, timeout: 10_000 };
    const req = request(options, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () => {
        const { date, ...rest } = res.headers;
        assert.ok(date, 'Date header');
        resolve({
          status: res.statusCode!,
          headers: rest,
          body: Buffer.concat(chunks)
            .toString()
            .replace(/"id":"[0-9a-f-]{36}"/, '"id":"<id>"'),
        });
      });
    });
    req.on('timeout', () => req.destroy(new Error(`${method} ${path}: no answer in 10 s`)));
    req.on('error', reject);
    req.end();
  });
}

const q = (n: number, rest = '&uuid=4c4c4544-0042-4810-8058-000000000001&arch=x86_64&platform=efi') =>
  `/boot/host.ipxe?mac=${mac(n)}${rest}`;

/** Requests the fast path answers: [method, path, expected status]. */
const answered: [string, string, number][] = [
  ['GET', '/boot.ipxe', 200],
  ['GET', q(1), 200],
  ['GET', q(1, '&platform=pcbios&arch=i386&uuid='), 200],
  ['GET', q(2), 200],
  ['GET', q(2), 200],
  ['GET', q(3), 200],
  ['GET', q(4), 200],
  ['GET', q(5), 200],
  ['GET', '/boot/host.ipxe', 200],
  ['GET', '/boot/host.ipxe?', 200],
  ['GET', '/boot/host.ipxe?mac=zz', 200],
  ['GET', '/boot/host.ipxe?mac=52%3A54%3A00%3A00%3A00%3A01&platform=efi', 200],
  ['GET', `/boot/host.ipxe?arch=${'a'.repeat(32)}&mac=${mac(1)}`, 200],
  ['GET', q(9), 403],
  ['GET', q(10), 429],
  ['GET', q(11), 500],
  ['GET', q(12), 500],
];
/** Requests left to Fastify. */
const fallThrough: [string, string, number][] = [
  ['HEAD', q(1), 200],
  ['POST', q(1), 405],
  ['GET', `/boot/host.ipxe?arch=${'a'.repeat(33)}&mac=${mac(1)}`, 400],
  ['GET', `/boot/host.ipxe?mac=${'1'.repeat(65)}`, 400],
  ['GET', `/boot/host.ipxe?mac=${mac(1)}&mac=${mac(2)}`, 400],
  ['GET', `/boot/host.ipxe?mac=${mac(1)}&extra=1`, 200],
  ['GET', `/boot/host.ipxe?mac=${mac(1)}&&platform=efi`, 200],
  ['GET', `/boot/host.ipxe?mac=${mac(1)}&arch=x86+64`, 200],
  ['GET', `/boot/host.ipxe?mac=%zz`, 200],
  ['GET', `/boot/host.ipxe?mac`, 200],
  ['GET', '/boot/host.ipxe/', 404],
  ['GET', '/boot/host.ipxex', 404],
  ['GET', '/boot.ipxe?x=1', 200],
];

describe('boot fast path', () => {
  it('answers every request as the Fastify routes do (status, headers, body, metrics, timeline), and leaves the rest to them', async () => {
    const slow = await serve(false);
    const fast = await serve(true);
    try {
      for (const [method, path, status] of [...answered, ...fallThrough]) {
        const a = await fetchOnce(slow, method, path, { 'x-kiln-session': 'abcdef012345' });
        const b = await fetchOnce(fast, method, path, { 'x-kiln-session': 'abcdef012345' });
        assert.equal(a.status, status, `${method} ${path}: ${a.body}`);
        assert.deepEqual(b, a, `${method} ${path}`);
      }
      assert.deepEqual(
        fast.taken,
        answered.map(([m, p]) => `${m} ${p}`),
      );
      assert.deepEqual(fast.metrics, slow.metrics);
      const plain = (xs: HttpExchange[]) => xs.map((x) => ({ ...x, seconds: 0 }));
      assert.deepEqual(plain(fast.exchanges), plain(slow.exchanges));
      assert.equal(fast.exchanges.length, answered.length + fallThrough.length);
      // Every request is counted in flight once and out again, whichever path answered it.
      assert.deepEqual(fast.counted, slow.counted);
      assert.deepEqual(fast.counted, { now: 0, taken: answered.length + fallThrough.length });
      // Client errors are not logged at the routes' level (warn at info); internal errors are, with their id.
      const logged = fast.log.lines.filter((l) => l.msg === 'request failed');
      assert.deepEqual(
        logged.map((l) => [l.level, (l.obj as { code: string }).code]),
        [
          ['error', 'internal'],
          ['error', 'internal'],
        ],
      );
    } finally {
      await slow.close();
      await fast.close();
    }
  });

  it('a retry after rate limiting carries retry-after; a refused source says why', async () => {
    const fast = await serve(true);
    try {
      const limited = await fetchOnce(fast, 'GET', q(10));
      assert.equal(limited.headers['retry-after'], '60');
      assert.equal(JSON.parse(limited.body).error.code, 'rate_limited');
      const refused = await fetchOnce(fast, 'GET', q(9));
      assert.equal(JSON.parse(refused.body).error.message, 'address not leased to this MAC');
      assert.equal(fast.taken.length, 2);
    } finally {
      await fast.close();
    }
  });

  it("parses only what Fastify's parser and schema give the same way", () => {
    assert.deepEqual(parseScriptQuery(''), {});
    assert.deepEqual(parseScriptQuery('mac=52:54:00:00:00:01&platform=efi&arch=x86_64&uuid='), {
      mac: '52:54:00:00:00:01',
      platform: 'efi',
      arch: 'x86_64',
      uuid: '',
    });
    assert.deepEqual(parseScriptQuery('arch=%C3%A9'), { arch: 'é' });
    for (const text of ['mac', '=x', 'mac=a&mac=b', 'other=1', 'mac=a+b', 'mac=%E0%A4', 'mac=a&', 'mac=a=b'])
      assert.equal(parseScriptQuery(text), null, text);
  });
});

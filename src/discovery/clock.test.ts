// The image writer's clock step (node/agent/clock.sh) under busybox: the HTTP
// Date header parsed by its awk against JavaScript's own UTC arithmetic, and
// clock_from_controller against a real HTTP server (the clock setter is
// replaced: a test never sets the machine's clock).
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { busyboxOnlyPath } from '../../test/support/busybox.js';
import { nodeScriptsDir } from './build-discovery-image.js';

const run = promisify(execFile);
const busybox = '/bin/busybox';
const agent = join(nodeScriptsDir, 'agent');
const skip = !existsSync(busybox) ? 'needs busybox' : false;
const bbWork = mkdtempSync(join(tmpdir(), 'kiln-bb-'));
after(() => rmSync(bbWork, { recursive: true, force: true }));

const busyboxPath = (): string => busyboxOnlyPath(bbWork);

async function sh(script: string, env: Record<string, string> = {}): Promise<{ code: number; out: string }> {
  try {
    const r = await run(busybox, ['sh', '-c', `. "$KILN_LIB/lib.sh"; . "$KILN_LIB/clock.sh"; ${script}`], {
      env: { PATH: busyboxPath(), KILN_LIB: agent, ...env },
      timeout: 30_000,
    });
    return { code: 0, out: r.stdout + r.stderr };
  } catch (err) {
    const e = err as { code?: number; stdout?: string; stderr?: string };
    return { code: e.code ?? -1, out: `${e.stdout ?? ''}${e.stderr ?? ''}` };
  }
}

test(
  'clock: HTTP dates from 1970 to 2099 parse to the same seconds as Date.UTC; other text is refused',
  { skip },
  async () => {
    // A fixed spread of instants (no randomness): leap days, month ends, the epoch.
    const instants = [0, 951_782_400, 1_709_251_199, 1_796_544_474, 4_107_542_399];
    for (let t = 86_399; t < 4_102_444_800; t += 97_654_321) instants.push(t);
    const dates = instants.map((t) => new Date(t * 1000).toUTCString());
    const r = await sh(
      `for d in "$@"; do clock_epoch_of_date "$d" || echo bad; done`.replace(
        '"$@"',
        dates.map((d) => `'${d}'`).join(' '),
      ),
    );
    assert.equal(r.code, 0, r.out);
    assert.deepEqual(r.out.trim().split('\n').map(Number), instants);
    for (const bad of [
      '',
      'yesterday',
      'Sun, 06 Foo 1994 08:49:37 GMT',
      'Sun, 06 Nov 1994 08:49:37 PST',
      'Sunday, 06-Nov-94 08:49:37 GMT',
    ]) {
      const b = await sh(`clock_epoch_of_date '${bad}'`);
      assert.notEqual(b.code, 0, bad);
      assert.equal(b.out, '', bad);
    }
  },
);

async function serve(handler: Parameters<typeof createServer>[1]): Promise<{ server: Server; url: string }> {
  const server = createServer(handler);
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  return { server, url: `http://127.0.0.1:${(server.address() as AddressInfo).port}` };
}

test(
  'clock: set from the controller Date header before anything else; no Date header is a failure with the reason',
  { skip },
  async () => {
    const paths: string[] = [];
    const good = await serve((req, res) => {
      paths.push(req.url ?? '');
      res.sendDate = false;
      res.writeHead(200, { date: 'Sun, 06 Dec 2026 08:07:54 GMT', 'content-type': 'application/json' }).end('{}');
    });
    const none = await serve((_req, res) => {
      res.sendDate = false;
      res.writeHead(200).end('{}');
    });
    try {
      const stub = `clock_set() { echo "SET $1"; }`;
      const r = await sh(`${stub}; clock_from_controller`, { KILN_URL: `${good.url}/` });
      assert.equal(r.code, 0, r.out);
      assert.match(r.out, /^SET 1796544474$/m);
      assert.match(
        r.out,
        /clock set from the controller to Sun, 06 Dec 2026 08:07:54 GMT \(was .* UTC, stepped -?\d+ s\)/,
      );
      assert.deepEqual(paths, ['/api/v1/health']);
      const n = await sh(`${stub}; clock_from_controller`, { KILN_URL: none.url });
      assert.notEqual(n.code, 0);
      assert.match(n.out, /no Date header from http:\/\/127\.0\.0\.1:\d+\/api\/v1\/health/);
      assert.doesNotMatch(n.out, /SET/);
    } finally {
      good.server.close();
      none.server.close();
    }
  },
);

// node/agent/lib.sh http_raw, the node scripts' HTTP client without curl (busybox nc), under busybox sh and dash
// against a real HTTP server on loopback: the body exactly as sent, the credential and headers as the server saw
// them, a slow answer waited for (the request side stays open: Node drops a half-closed request), a 4xx final (4)
// with the error's message, a 5xx, a refused connection and an answer cut short all "no answer" (1).
import assert from 'node:assert/strict';
import { execFile, execFileSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { BUSYBOX, busyboxOnlyPath } from '../../test/support/busybox.js';
import { freePort } from '../../test/support/serve-process.js';
import { nodeScriptsDir } from './build-discovery-image.js';

const DASH = ['/usr/bin/dash', '/bin/dash'].find((p) => existsSync(p));
const shells = [
  { name: 'busybox sh', argv: existsSync(BUSYBOX) ? [BUSYBOX, 'sh'] : null },
  { name: 'dash', argv: DASH ? [DASH] : null },
];
const CREDENTIAL = 'kn_httpRawTestCredential0123456789abcdefghij';

type Seen = { method: string; url: string; headers: IncomingMessage['headers']; body: string };

describe('lib.sh http_raw', { skip: existsSync(BUSYBOX) ? false : 'needs busybox' }, () => {
  const work = mkdtempSync(join(tmpdir(), 'kiln-http-raw-'));
  const seen: Seen[] = [];
  const routes: Record<string, (res: ServerResponse) => void> = {
    '/ok': (res) => res.writeHead(200, { 'content-type': 'application/octet-stream' }).end('two\nlines, no end'),
    '/slow': (res) => void setTimeout(() => res.writeHead(200).end('late but whole'), 400),
    '/refused': (res) =>
      res
        .writeHead(401, { 'content-type': 'application/json' })
        .end('{"error":{"code":"credential_invalid","message":"this call needs a node credential"}}'),
    '/broken': (res) => res.writeHead(503).end('down'),
    '/short': (res) => {
      res.writeHead(200, { 'content-length': '100' });
      // The headers and ten bytes, then the end of the connection (FIN): a whole TCP stream, a short HTTP answer.
      res.write('only ten b', () => res.socket?.end());
    },
  };
  const server = createServer((req, res) => {
    let body = '';
    req.on('data', (d: Buffer) => (body += d.toString()));
    req.on('end', () => {
      seen.push({ method: req.method ?? '', url: req.url ?? '', headers: req.headers, body });
      routes[(req.url ?? '').split('?')[0]!]!(res);
    });
  });
  let base = '';
  before(async () => {
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  });
  after(async () => {
    server.closeAllConnections();
    await new Promise((r) => server.close(r));
    rmSync(work, { recursive: true, force: true });
  });

  /** http_raw ARGS under `argv` (a shell) with busybox's applets as PATH; a private run directory. */
  function raw(argv: string[], args: string): Promise<{ code: number; out: string; err: string }> {
    const dir = join(work, `run-${seen.length}-${Math.random().toString(36).slice(2)}`);
    mkdirSync(dir, { mode: 0o700 });
    writeFileSync(join(dir, 'cred'), `${CREDENTIAL}\n`, { mode: 0o600 });
    writeFileSync(join(dir, 'body'), '{"a":1}');
    const script = `. "${nodeScriptsDir}/agent/lib.sh"; D=${dir}; http_raw "$D" 10 ${args}`;
    return new Promise((resolve) => {
      execFile(
        argv[0]!,
        [...argv.slice(1), '-c', script],
        { encoding: 'utf8', timeout: 30_000, env: { PATH: busyboxOnlyPath(work) } },
        (err, out, errText) =>
          resolve({ code: err ? Number((err as { code?: number }).code ?? -1) : 0, out, err: errText }),
      );
    });
  }

  for (const sh of shells)
    it(
      `${sh.name}: body as sent, credential and headers as the server saw them, errors by kind`,
      {
        skip: sh.argv ? false : `needs ${sh.name}`,
      },
      async () => {
        const argv = sh.argv!;
        const ok = await raw(
          argv,
          `POST "${base}/ok?x=1" "$D/cred" "$D/body" 'X-Kiln-Session: s1' 'Content-Type: application/json'`,
        );
        assert.equal(ok.code, 0, ok.err);
        assert.equal(ok.out, 'two\nlines, no end', 'the body byte for byte');
        const got = seen.at(-1)!;
        assert.equal(got.method, 'POST');
        assert.equal(got.url, '/ok?x=1');
        assert.equal(got.headers.authorization, `Bearer ${CREDENTIAL}`);
        assert.equal(got.headers['x-kiln-session'], 's1');
        assert.equal(got.headers['content-type'], 'application/json');
        assert.equal(got.body, '{"a":1}');

        const slow = await raw(argv, `GET "${base}/slow" "" ""`);
        assert.equal(slow.code, 0, slow.err);
        assert.equal(slow.out, 'late but whole');
        assert.equal(seen.at(-1)!.headers.authorization, undefined, 'no credential file: no Authorization');

        const refused = await raw(argv, `GET "${base}/refused" "$D/cred" ""`);
        assert.equal(refused.code, 4);
        assert.equal(refused.out, '');
        assert.match(
          refused.err,
          /GET http:\/\/127\.0\.0\.1:\d+\/refused: HTTP 401: this call needs a node credential/,
        );

        const broken = await raw(argv, `GET "${base}/broken" "$D/cred" ""`);
        assert.equal(broken.code, 1);
        assert.match(broken.err, /HTTP 503/);

        const short = await raw(argv, `GET "${base}/short" "$D/cred" ""`);
        assert.equal(short.code, 1);
        assert.equal(short.out, '');
        assert.match(short.err, /the answer was cut short/);

        const dead = await raw(argv, `GET "http://127.0.0.1:${await freePort()}/x" "$D/cred" ""`);
        assert.equal(dead.code, 1);
        assert.match(dead.err, /no answer \(nc exit \d+\)/);

        const tls = await raw(argv, `GET "https://127.0.0.1:1/x" "$D/cred" ""`);
        assert.equal(tls.code, 1);
        assert.match(tls.err, /not http:\/\//);
      },
    );

  it(
    'leaves nothing behind in its run directory, and no writer process',
    { skip: shells[0]!.argv ? false : 'needs busybox' },
    async () => {
      const dir = join(work, 'clean');
      mkdirSync(dir, { mode: 0o700 });
      // Asynchronous: the server answers from this process.
      const r = await new Promise<{ code: number; out: string; err: string }>((resolve) =>
        execFile(
          BUSYBOX,
          [
            'sh',
            '-c',
            `. "${nodeScriptsDir}/agent/lib.sh"; http_raw "${dir}" 10 GET "${base}/slow" "" ""; ls -A "${dir}"`,
          ],
          { encoding: 'utf8', timeout: 30_000, env: { PATH: busyboxOnlyPath(work) } },
          (err, out, errText) =>
            resolve({ code: err ? Number((err as { code?: number }).code ?? -1) : 0, out, err: errText }),
        ),
      );
      assert.equal(r.code, 0, r.err);
      assert.equal(r.out, 'late but whole', r.err);
      const sleepers = execFileSync('ps', ['-eo', 'args'], { encoding: 'utf8' })
        .split('\n')
        .filter((l) => /^sleep 15$/.test(l.trim()));
      assert.deepEqual(sleepers, [], 'the request writer (sleep 15) was ended');
    },
  );
});

// A real Prometheus server (Debian's `prometheus`) scrapes `kiln serve` with a
// viewer token from a credentials file, and a second job with a wrong token
// is refused (up == 0). `promtool check metrics` (same package) lints the
// exposition text. Everything on 127.0.0.1; both processes stopped by PID.
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { freePort, runKiln, startServe, type ServeProcess } from '../../test/support/serve-process.js';
import { stopChild } from '../../test/support/process.js';

const has = (cmd: string) => spawnSync('sh', ['-c', `command -v ${cmd}`]).status === 0;
const skip =
  !has('prometheus') || !has('promtool') ? "needs Debian's prometheus package (prometheus, promtool)" : false;
const work = mkdtempSync(join(tmpdir(), 'kiln-prom-'));
let serve: ServeProcess | undefined;
let prom: ChildProcess | undefined;

after(async () => {
  await stopChild(prom, 5000);
  if (serve) {
    serve.child.kill('SIGTERM');
    await serve.exited;
  }
  rmSync(work, { recursive: true, force: true });
});

/** One instant-query value from Prometheus' HTTP API, or undefined when the series is absent. */
async function query(base: string, q: string): Promise<number | undefined> {
  const res = await fetch(`${base}/api/v1/query?query=${encodeURIComponent(q)}`, { signal: AbortSignal.timeout(5000) });
  const body = (await res.json()) as { status: string; data: { result: Array<{ value: [number, string] }> } };
  assert.equal(body.status, 'success');
  const v = body.data.result[0]?.value[1];
  return v === undefined ? undefined : Number(v);
}

async function until<T>(what: string, ms: number, f: () => Promise<T | undefined>): Promise<T> {
  const deadline = Date.now() + ms;
  for (;;) {
    const v = await f().catch(() => undefined);
    if (v !== undefined) return v;
    if (Date.now() > deadline) throw new Error(`${what}: not seen within ${ms} ms`);
    await new Promise((r) => setTimeout(r, 500));
  }
}

test(
  'Prometheus scrapes /metrics with a viewer token; a wrong token is refused; promtool accepts the text',
  { skip, timeout: 120_000 },
  async () => {
    const dataDir = join(work, 'data');
    serve = await startServe(['--data-dir', dataDir, '--power-poll-interval', '0']);
    const env = { KILN_SERVER: serve.url, KILN_TOKEN_FILE: join(dataDir, 'admin-token') };
    const viewer = await runKiln(['token', 'create', 'prometheus', '--role', 'viewer'], env);
    assert.equal(viewer.code, 0, viewer.stderr);
    writeFileSync(join(work, 'viewer.token'), viewer.stdout.trim(), { mode: 0o600 });
    writeFileSync(join(work, 'wrong.token'), 'kt_not-a-token', { mode: 0o600 });
    assert.equal((await runKiln(['host', 'add', 'rack1-n1', '--mac', '52:54:00:00:01:01'], env)).code, 0);

    const target = new URL(serve.url).host;
    const promPort = await freePort();
    writeFileSync(
      join(work, 'prometheus.yml'),
      [
        'global: { scrape_interval: 1s, scrape_timeout: 1s }',
        'scrape_configs:',
        `  - { job_name: kiln, static_configs: [{ targets: ['${target}'] }], authorization: { credentials_file: ${join(work, 'viewer.token')} } }`,
        `  - { job_name: kiln-wrong-token, static_configs: [{ targets: ['${target}'] }], authorization: { credentials_file: ${join(work, 'wrong.token')} } }`,
        '',
      ].join('\n'),
    );
    let promLog = '';
    prom = spawn(
      'prometheus',
      [
        `--config.file=${join(work, 'prometheus.yml')}`,
        `--storage.tsdb.path=${join(work, 'tsdb')}`,
        `--web.listen-address=127.0.0.1:${promPort}`,
      ],
      { stdio: ['ignore', 'ignore', 'pipe'] },
    );
    prom.stderr!.on('data', (d) => {
      promLog = (promLog + d).slice(-8000);
    });
    const base = `http://127.0.0.1:${promPort}`;
    try {
      assert.equal(
        await until('up{job="kiln"} == 1', 60_000, async () =>
          (await query(base, 'up{job="kiln"}')) === 1 ? 1 : undefined,
        ),
        1,
      );
      assert.equal(
        await until('kiln_hosts{state="new"}', 30_000, () => query(base, 'kiln_hosts{job="kiln",state="new"}')),
        1,
      );
      // Each target is scraped at its own offset in the interval: wait for the wrong-token job's first scrape.
      assert.equal(
        await until('up{job="kiln-wrong-token"}', 30_000, () => query(base, 'up{job="kiln-wrong-token"}')),
        0,
        'a scrape with a wrong token must fail',
      );
      // Prometheus' own record of why: the target's last error names the HTTP status.
      const targets = (await (await fetch(`${base}/api/v1/targets`, { signal: AbortSignal.timeout(5000) })).json()) as {
        data: { activeTargets: Array<{ labels: { job: string }; lastError: string }> };
      };
      const wrong = targets.data.activeTargets.find((t) => t.labels.job === 'kiln-wrong-token');
      assert.match(wrong?.lastError ?? '', /401/);
    } catch (err) {
      process.stderr.write(`--- prometheus log (tail)\n${promLog}\n`);
      throw err;
    }

    const text = await (
      await fetch(`${serve.url}/metrics`, {
        headers: { authorization: `Bearer ${readFileSync(join(work, 'viewer.token'), 'utf8')}` },
      })
    ).text();
    // Kiln's own families are linted; prom-client's default nodejs_* gauges named *_total (active handles,
    // requests, resources) fail promtool's naming lint and are not ours to rename.
    const ours =
      text
        .split('\n')
        .filter((l) => /^(# (HELP|TYPE) )?kiln_/.test(l))
        .join('\n') + '\n';
    assert.match(ours, /# TYPE kiln_http_requests_total counter/);
    const lint = spawnSync('promtool', ['check', 'metrics'], { input: ours, encoding: 'utf8', timeout: 30_000 });
    assert.equal(lint.status, 0, `promtool check metrics:\n${lint.stdout}${lint.stderr}`);
  },
);

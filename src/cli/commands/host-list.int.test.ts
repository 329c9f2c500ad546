import assert from 'node:assert/strict';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { createTestController, type TestController } from '../../../test/support/controller.js';
import { runCli } from '../main.js';

// `kiln host list` in process against a controller listening on loopback.
describe('kiln host list', () => {
  let c: TestController;
  let env: Record<string, string>;
  const dir = mkdtempSync(join(tmpdir(), 'kiln-host-list-'));

  async function kiln(argv: string[]) {
    const out: string[] = [];
    const err: string[] = [];
    const code = await runCli(argv, env, { out: (s) => out.push(s), err: (s) => err.push(s) });
    return { code, stdout: out.join('\n'), stderr: err.join('\n') };
  }

  before(async () => {
    c = await createTestController();
    const server = await c.app.listen({ host: '127.0.0.1', port: 0 });
    env = {
      KILN_SERVER: server,
      KILN_TOKEN: c.bearer.admin.slice('Bearer '.length),
      KILN_DATA_DIR: join(dir, 'no-data'),
      XDG_CONFIG_HOME: join(dir, 'xdg'),
    };
    for (let i = 0; i < 25; i++) {
      await c.inventory.createHost(
        {
          name: `cli-${String(i).padStart(2, '0')}`,
          nics: [],
          tags: i % 2 ? ['odd'] : [],
          labels: { rack: `r${i % 3}` },
          state: i % 5 ? 'new' : 'ready',
        },
        { actor: 'test' },
      );
    }
  });
  after(async () => c.close());

  it('--all --json follows the cursors to the end and prints one JSON array of every host', async () => {
    const r = await kiln(['host', 'list', '--all', '--json', '--limit', '4']);
    assert.equal(r.code, 0, r.stderr);
    const hosts = JSON.parse(r.stdout) as Array<{ name: string }>;
    assert.deepEqual(
      hosts.map((h) => h.name),
      Array.from({ length: 25 }, (_, i) => `cli-${String(i).padStart(2, '0')}`),
    );
    assert.deepEqual(JSON.parse((await kiln(['host', 'list', '--json', '--prefix', 'nope'])).stdout), []);
  });

  it('filters by --prefix, --label, --tag and --state together; without --all prints one page', async () => {
    const r = await kiln(['host', 'list', '--prefix', 'cli-1', '--label', 'rack=r1', '--tag', 'odd', '--state', 'new']);
    assert.equal(r.code, 0, r.stderr);
    assert.deepEqual(
      r.stdout
        .split('\n')
        .slice(1)
        .map((l) => l.split(/\s+/)[0]),
      ['cli-13', 'cli-19'],
    );
    const page = await kiln(['host', 'list', '--limit', '3']);
    assert.equal(page.stdout.split('\n').length, 4, 'a header and one page of 3');
  });

  it('--after takes a page cursor or a host name', async () => {
    const first = await c.app.inject({ url: '/api/v1/hosts?limit=2', headers: { authorization: c.bearer.viewer } });
    const next = first.json<{ next: string }>().next;
    const byCursor = await kiln(['host', 'list', '--limit', '2', '--after', next, '--json']);
    const byName = await kiln(['host', 'list', '--limit', '2', '--after', 'cli-01', '--json']);
    assert.deepEqual(
      (JSON.parse(byCursor.stdout) as Array<{ name: string }>).map((h) => h.name),
      ['cli-02', 'cli-03'],
    );
    assert.equal(byName.stdout, byCursor.stdout);
  });

  it('shows a HEALTH column (never for a deployed host not heard from, - when not deployed) and filters by --health', async () => {
    const post = (url: string, payload: object) =>
      c.app.inject({ method: 'POST', url, headers: { authorization: c.bearer.admin }, payload });
    assert.equal((await post('/api/v1/hosts/cli-00/deploy', { profile: 'debian-12' })).statusCode, 200);
    assert.equal((await post('/api/v1/hosts/cli-00/state', { state: 'deployed' })).statusCode, 200);
    const r = await kiln(['host', 'list', '--limit', '2']);
    assert.equal(r.code, 0, r.stderr);
    const [header, ...rows] = r.stdout.split('\n').map((l) => l.trim().split(/\s+/));
    assert.equal(header.at(-1), 'HEALTH');
    assert.deepEqual(
      rows.map((c) => [c[0], c.at(-1)]),
      [
        ['cli-00', 'never'],
        ['cli-01', '-'],
      ],
    );
    const never = await kiln(['host', 'list', '--all', '--health', 'never', '--json']);
    assert.deepEqual(
      (JSON.parse(never.stdout) as Array<{ name: string; health: string }>).map((h) => [h.name, h.health]),
      [['cli-00', 'never']],
    );
  });
});

import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { after, before, describe, it, test } from 'node:test';
import { caUpdate, formatHeartbeatReply } from './routes.js';
import { createTestController, type TestController } from '../../test/support/controller.js';

const facts = (diskBytes: number) => ({
  bootMac: '52:54:00:95:01:01',
  cpu: { model: 'Test CPU', count: 2 },
  memory: { totalBytes: 2_000_000_000, installedBytes: 2_147_483_648 },
  nics: [{ name: 'eth0', mac: '52:54:00:95:01:01', driver: 'virtio_net' }],
  disks: [{ name: 'vda', sizeBytes: diskBytes, model: 'D', serial: 's1', rotational: false }],
});
const beat = { bootId: '0f0f0f0f-1111-2222-3333-444444444444', uptimeSeconds: 12.5, kernel: '6.1.0' };

describe('heartbeat routes', () => {
  let c: TestController;
  let credential = '';
  before(async () => {
    c = await createTestController();
    const r = await c.app.inject({
      method: 'POST',
      url: '/api/v1/node/discover',
      payload: { facts: facts(1_000_000_000) },
    });
    assert.equal(r.statusCode, 200, r.body);
    credential = r.json<{ credential: string }>().credential;
  });
  after(() => c.close());

  const heartbeat = (payload: unknown, headers: Record<string, string> = { authorization: `Bearer ${credential}` }) =>
    c.app.inject({ method: 'POST', url: '/api/v1/node/heartbeat', headers, payload: payload as object });

  it('takes only a node credential: no credential, a claimed MAC or an API token is refused', async () => {
    assert.equal((await heartbeat(beat, {})).statusCode, 401);
    assert.equal((await heartbeat(beat, { 'x-kiln-mac': '52:54:00:95:01:01' })).statusCode, 401);
    assert.equal((await heartbeat(beat, { authorization: c.bearer.admin })).statusCode, 401);
    assert.equal(
      (await c.app.inject({ method: 'GET', url: '/api/v1/hosts/node-525400950101/health' })).statusCode,
      401,
    );
  });

  it('refuses an unbounded or unknown body with every issue', async () => {
    const disks = Array.from({ length: 65 }, (_, i) => ({ mount: `/m${i}`, sizeBytes: 1, usedBytes: 0 }));
    const r = await heartbeat({ ...beat, disks, extra: 1 });
    assert.equal(r.statusCode, 400);
    assert.equal(r.json<{ error: { code: string } }>().error.code, 'validation_failed');
    assert.equal((await heartbeat({ ...beat, bootId: 'x' })).statusCode, 400);
  });

  it('answers JSON or lines with the KRL, and the health route (viewer) shows the report', async () => {
    const json = await heartbeat(beat);
    assert.equal(json.statusCode, 200, json.body);
    const reply = json.json<{ intervalSeconds: number; audit: boolean; krlSha256: string; krl: string }>();
    assert.equal(reply.intervalSeconds, 60);
    assert.equal(reply.audit, true);
    assert.equal(Buffer.from(reply.krl, 'base64').subarray(0, 6).toString(), 'SSHKRL');
    const text = await heartbeat(
      { ...beat, krlSha256: reply.krlSha256 },
      { authorization: `Bearer ${credential}`, accept: 'text/plain' },
    );
    assert.equal(text.headers['content-type'], 'text/plain; charset=utf-8');
    assert.equal(text.body, `interval 60\naudit 1\nkrl-sha256 ${reply.krlSha256}\n`);
    const h = await c.app.inject({
      method: 'GET',
      url: '/api/v1/hosts/node-525400950101/health',
      headers: { authorization: c.bearer.viewer },
    });
    assert.equal(h.statusCode, 200, h.body);
    const view = h.json<Record<string, unknown> & { report: Record<string, unknown> }>();
    assert.equal(view.status, 'ok');
    assert.equal(view.report.kernel, '6.1.0');
    assert.deepEqual(view.report.disks, []);
    assert.equal(view.report.failedUnits, null);
  });

  it("the host list carries each host's health (null unless deployed) and filters on it, paging by cursor", async () => {
    const api = (method: 'GET' | 'POST', url: string, payload?: object) =>
      c.app.inject({ method, url, headers: { authorization: c.bearer.admin }, ...(payload ? { payload } : {}) });
    for (const name of ['hl-a', 'hl-b', 'hl-c']) {
      assert.equal((await api('POST', '/api/v1/hosts', { name, state: 'ready' })).statusCode, 201);
      if (name === 'hl-c') continue;
      assert.equal((await api('POST', `/api/v1/hosts/${name}/deploy`, { profile: 'debian-12' })).statusCode, 200);
      assert.equal((await api('POST', `/api/v1/hosts/${name}/state`, { state: 'deployed' })).statusCode, 200);
    }
    const node = 'node-525400950101';
    assert.equal((await api('POST', `/api/v1/hosts/${node}/deploy`, { profile: 'debian-12' })).statusCode, 200);
    assert.equal((await api('POST', `/api/v1/hosts/${node}/state`, { state: 'deployed' })).statusCode, 200);
    assert.equal((await heartbeat(beat)).statusCode, 200);
    type Page = { items: Array<{ name: string; health: string | null }>; next: string | null };
    const list = async (q: string) => {
      const r = await api('GET', `/api/v1/hosts?${q}`);
      assert.equal(r.statusCode, 200, r.body);
      return r.json<Page>();
    };
    const all = await list('');
    assert.deepEqual(
      all.items.map((h) => [h.name, h.health]),
      [
        ['hl-a', 'never'],
        ['hl-b', 'never'],
        ['hl-c', null],
        [node, 'ok'],
      ],
    );
    assert.deepEqual(
      (await list('health=ok')).items.map((h) => h.name),
      [node],
    );
    assert.deepEqual(await list('health=unreachable'), { items: [], next: null });
    assert.deepEqual(await list('health=never&state=ready'), { items: [], next: null });
    const first = await list('health=never&limit=1');
    assert.deepEqual(
      first.items.map((h) => h.name),
      ['hl-a'],
    );
    assert.ok(first.next);
    const second = await list(`health=never&limit=1&after=${first.next}`);
    assert.deepEqual([second.items.map((h) => h.name), second.next], [['hl-b'], null]);
    assert.equal((await api('GET', '/api/v1/hosts?health=sick')).statusCode, 400);
  });

  it('a re-audit hashes the facts like discovery: the same facts change nothing, a bigger disk is the diff event', async () => {
    const before = (await c.inventory.getHost('node-525400950101')).version;
    await heartbeat({ ...beat, facts: facts(1_000_000_000) });
    assert.equal((await c.inventory.getHost('node-525400950101')).version, before, 'nothing written');
    await heartbeat({ ...beat, facts: facts(2_000_000_000) });
    const events = await c.inventory.listEvents({ kind: 'host.hardware_changed' });
    assert.equal(events.length, 1);
    assert.deepEqual((events[0].data as { diff: unknown }).diff, [
      { part: 'disk s1', before: 'D 1000000000 bytes', after: 'D 2000000000 bytes' },
    ]);
    const host = await c.inventory.getHost('node-525400950101');
    assert.equal(host.needsAttention, true);
  });

  it('serves the agent files to a node, and nothing else', async () => {
    const get = (name: string) =>
      c.app.inject({
        method: 'GET',
        url: `/api/v1/node/agent/${name}`,
        headers: { authorization: `Bearer ${credential}` },
      });
    const agent = await get('kiln-heartbeat');
    assert.equal(agent.statusCode, 200);
    assert.match(agent.body, /^#!\/bin\/sh\n# Kiln heartbeat agent/);
    assert.match((await get('kiln-heartbeat.timer')).body, /OnUnitActiveSec=10s/);
    assert.equal((await get('install.sh')).statusCode, 404);
    assert.equal((await get('..%2Fagent%2Flib.sh')).statusCode, 404);
  });
});

test("the text reply names every healthy member's URLs, one line each, for the agent's failover lists", () => {
  const text = formatHeartbeatReply({
    intervalSeconds: 30,
    audit: false,
    krlSha256: 'ab',
    krl: null,
    urls: ['http://10.0.0.1:8080', 'http://bad url'],
    apiUrls: ['https://10.0.0.1:8443', 'https://10.0.0.2:8443'],
  });
  assert.equal(
    text,
    'interval 30\naudit 0\nkrl-sha256 ab\nurl http://10.0.0.1:8080\napi-url https://10.0.0.1:8443\napi-url https://10.0.0.2:8443\n',
  );
});

test('the CA bundle goes to an agent whose ca.pem hashes otherwise, never to one that sent no hash', () => {
  const bundle = '-----BEGIN CERTIFICATE-----\nA\n-----END CERTIFICATE-----\n';
  const sha = createHash('sha256').update(bundle).digest('hex');
  assert.deepEqual(caUpdate(bundle, sha), { caSha256: sha });
  assert.deepEqual(caUpdate(bundle, '0'.repeat(64)), { caSha256: sha, ca: Buffer.from(bundle).toString('base64') });
  assert.deepEqual(caUpdate(bundle, undefined), {});
  assert.deepEqual(caUpdate(undefined, sha), {});
  assert.match(
    formatHeartbeatReply({ intervalSeconds: 1, audit: false, krlSha256: 'ab', krl: null, ...caUpdate(bundle, 'x') }),
    new RegExp(`\nca-sha256 ${sha}\nca [A-Za-z0-9+/=]+\n$`),
  );
});

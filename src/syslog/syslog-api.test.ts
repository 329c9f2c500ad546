// The syslog API through the controller (in-process, the log store in memory):
// filters, the node's arrival check, trigger events, and `kiln host logs --follow`.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { createTestController } from '../../test/support/controller.js';
import { createApiClient } from '../cli/api-client.js';
import { followLogs } from '../cli/commands/host-logs.js';
import { defaultSyslogConfig } from './syslog-config.js';

const enc = (s: string) => new TextEncoder().encode(s);

async function setup() {
  const c = await createTestController({
    syslog: {
      ...defaultSyslogConfig,
      triggers: [{ name: 'raid-degraded', pattern: 'md[0-9]+: .*degraded', severity: 4 }],
    },
  });
  const hosts: Record<string, { mac: string; cred: string; id: string }> = {};
  for (const [name, mac] of [
    ['node1', '52:54:00:33:00:01'],
    ['node2', '52:54:00:33:00:02'],
  ]) {
    const made = await c.app.inject({
      method: 'POST',
      url: '/api/v1/hosts',
      headers: { authorization: c.bearer.operator },
      payload: { name, nics: [{ mac }] },
    });
    assert.equal(made.statusCode, 201, made.body);
    const d = await c.app.inject({
      method: 'POST',
      url: '/api/v1/node/discover',
      payload: { facts: { bootMac: mac, nics: [{ mac }] } },
    });
    assert.equal(d.statusCode, 200, d.body);
    hosts[name] = { mac, cred: d.json<{ credential: string }>().credential, id: made.json<{ id: string }>().id };
  }
  return { c, hosts };
}

test('logs filter by severity threshold (number or name), text and id; a node asks whether its own key arrived, never another host’s', async (t) => {
  const { c, hosts } = await setup();
  t.after(() => c.close());
  // Attributed by HOSTNAME (no lease in this test).
  c.syslog.accept(enc('<14>Dec  6 08:00:00 node1 agent: hello world'), '10.0.0.1');
  c.syslog.accept(enc('<11>Dec  6 08:00:01 node1 agent: disk error 50%'), '10.0.0.1');
  c.syslog.accept(enc('<14>Dec  6 08:00:02 node1 agent: kiln-check abcdef0123456789XYZ'), '10.0.0.1');
  c.syslog.accept(enc('<14>Dec  6 08:00:03 node2 agent: kiln-check node2key0123456789'), '10.0.0.2');
  await c.syslog.flush();
  const get = async (q: string) => {
    const r = await c.app.inject({
      method: 'GET',
      url: `/api/v1/hosts/node1/logs${q}`,
      headers: { authorization: c.bearer.viewer },
    });
    assert.equal(r.statusCode, 200, r.body);
    return r.json<{ items: Array<{ id: number; text: string }> }>().items;
  };
  assert.deepEqual(
    (await get('?severity=err')).map((m) => m.text),
    ['disk error 50%'],
  );
  assert.deepEqual(
    (await get('?severity=3')).map((m) => m.text),
    ['disk error 50%'],
  );
  assert.deepEqual(
    (await get('?grep=HELLO')).map((m) => m.text),
    ['hello world'],
  );
  const all = await get('');
  assert.equal(all.length, 3);
  assert.deepEqual(
    (await get(`?after=${all[0].id}&limit=1`)).map((m) => m.text),
    ['disk error 50%'],
  );
  const bad = await c.app.inject({
    method: 'GET',
    url: '/api/v1/hosts/node1/logs?severity=loud',
    headers: { authorization: c.bearer.viewer },
  });
  assert.equal(bad.statusCode, 400);

  const arrived = async (cred: string, key: string) => {
    const r = await c.app.inject({
      method: 'GET',
      url: `/api/v1/node/syslog/arrived?key=${key}`,
      headers: { authorization: `Bearer ${cred}` },
    });
    assert.equal(r.statusCode, 200, r.body);
    return r.json<{ received: boolean }>().received;
  };
  assert.equal(await arrived(hosts.node1.cred, 'abcdef0123456789XYZ'), true);
  assert.equal(await arrived(hosts.node1.cred, 'neverlogged0123456'), false);
  assert.equal(await arrived(hosts.node1.cred, 'node2key0123456789'), false, "node2's line is not node1's");
  assert.equal(await arrived(hosts.node2.cred, 'node2key0123456789'), true);
  const asAdmin = await c.app.inject({
    method: 'GET',
    url: '/api/v1/node/syslog/arrived?key=abcdef0123456789XYZ',
    headers: { authorization: c.bearer.admin },
  });
  assert.equal(asAdmin.statusCode, 401, 'node credentials only');
  const short = await c.app.inject({
    method: 'GET',
    url: '/api/v1/node/syslog/arrived?key=short',
    headers: { authorization: `Bearer ${hosts.node1.cred}` },
  });
  assert.equal(short.statusCode, 400);
});

test('a matching line records one syslog.trigger event for the host (library and operator triggers), and never changes the host', async (t) => {
  const { c } = await setup();
  t.after(() => c.close());
  const before = await c.app.inject({
    method: 'GET',
    url: '/api/v1/hosts/node1',
    headers: { authorization: c.bearer.viewer },
  });
  c.syslog.accept(enc('<0>Dec  6 08:00:00 node1 kernel: Kernel panic - not syncing: Fatal exception'), '10.0.0.1');
  c.syslog.accept(enc('<0>Dec  6 08:00:00 node1 kernel: Kernel panic - not syncing: again'), '10.0.0.1');
  c.syslog.accept(enc('<11>Dec  6 08:00:01 node1 mdadm: md0: array degraded'), '10.0.0.1');
  c.syslog.accept(enc('<14>Dec  6 08:00:01 node1 mdadm: md1: array degraded (info: below the threshold)'), '10.0.0.1');
  await c.syslog.flush();
  let kinds: Array<{ kind: string; subject: string }> = [];
  for (let i = 0; i < 50 && kinds.length < 2; i++) {
    await new Promise((r) => setTimeout(r, 10));
    const r = await c.app.inject({
      method: 'GET',
      url: '/api/v1/hosts/node1/events?limit=100',
      headers: { authorization: c.bearer.viewer },
    });
    kinds = r
      .json<{ items: Array<{ kind: string; subject: string }> }>()
      .items.filter((e) => e.kind === 'syslog.trigger');
  }
  assert.deepEqual(kinds.map((e) => e.subject).sort(), ['kernel-panic', 'raid-degraded']);
  const after = await c.app.inject({
    method: 'GET',
    url: '/api/v1/hosts/node1',
    headers: { authorization: c.bearer.viewer },
  });
  assert.equal(after.json<{ state: string }>().state, before.json<{ state: string }>().state);
});

test('kiln host logs --follow prints the last lines, then each new one once, in order', async (t) => {
  const { c } = await setup();
  t.after(() => c.close());
  const address = await c.app.listen({ port: 0, host: '127.0.0.1' });
  c.syslog.accept(enc('<14>Dec  6 08:00:00 node1 a: one'), '10.0.0.1');
  c.syslog.accept(enc('<14>Dec  6 08:00:00 node1 a: two'), '10.0.0.1');
  await c.syslog.flush();
  const printed: string[] = [];
  const stop = new AbortController();
  const api = createApiClient({
    server: address,
    token: c.bearer.viewer.replace(/^Bearer /, ''),
    caFingerprint: null,
    caFile: null,
  });
  const following = followLogs(
    api,
    '/api/v1/hosts/node1/logs',
    new URLSearchParams({ limit: '1' }),
    (l) => {
      printed.push(l.text);
      if (l.text === 'three') {
        c.syslog.accept(enc('<14>Dec  6 08:00:00 node1 a: four'), '10.0.0.1');
        void c.syslog.flush();
      }
      if (l.text === 'four') stop.abort();
    },
    { out: () => {}, err: () => {} },
    { intervalMs: 5, signal: stop.signal },
  );
  for (let i = 0; i < 200 && printed.length === 0; i++) await new Promise((r) => setTimeout(r, 5));
  c.syslog.accept(enc('<14>Dec  6 08:00:00 node1 a: three'), '10.0.0.1');
  await c.syslog.flush();
  const timeout = setTimeout(() => stop.abort(), 10_000);
  await following;
  clearTimeout(timeout);
  assert.deepEqual(printed, ['two', 'three', 'four']);
});

// The self-test and after-discovery flow through the real API on an in-memory controller: a rule's tests hold a
// new host in discovering until the agent reports them; a failure sends it to failed; an operator's request reaches
// the agent through GET next; destructive runs need ready and confirmation; afterDiscovery: poweroff without a BMC
// tells the agent to power itself off.
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { appendFileSync, cpSync, mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createTestController, repoProfilesDir, type TestController } from '../../test/support/controller.js';

const facts = (mac: string) => ({
  bootMac: mac,
  firmware: 'bios',
  cpu: { model: 'QEMU', count: 2 },
  nics: [{ name: 'eth0', mac }],
});

describe('node self-tests and discovery actions', () => {
  let c: TestController;
  before(async () => {
    c = await createTestController();
  });
  after(async () => c.close());

  const call = async (method: 'GET' | 'POST' | 'PUT', url: string, auth: string, payload?: object) => {
    const res = await c.app.inject({ method, url: `/api/v1/${url}`, payload, headers: { authorization: auth } });
    return {
      status: res.statusCode,
      body: res.json() as Record<string, unknown> & { items?: Array<Record<string, unknown>> },
    };
  };
  const discover = async (mac: string) => {
    const res = await c.app.inject({ method: 'POST', url: '/api/v1/node/discover', payload: { facts: facts(mac) } });
    assert.equal(res.statusCode, 200, res.body);
    return res.json() as {
      hostId: string;
      credential: string;
      selfTests?: { run: string; tests: string; memoryMiB: number };
      then?: string;
    };
  };
  const node = (cred: string) => `Bearer ${cred}`;
  const state = async (id: string) => (await c.inventory.getHost(id)).state;

  it("a rule's tests hold the host in discovering; passing results make it ready; its afterDiscovery: poweroff goes to the agent", async () => {
    const rule = await call('PUT', 'rules/tested', c.bearer.admin, {
      match: { macPrefix: '52:54:00:5e' },
      assign: { selfTests: ['memory', 'nic-speed'], selfTestOptions: { memoryMiB: 8 }, afterDiscovery: 'poweroff' },
    });
    assert.equal(rule.status, 200, JSON.stringify(rule.body));
    const d = await discover('52:54:00:5e:00:01');
    assert.deepEqual(
      { ...d.selfTests, run: undefined },
      { run: undefined, tests: 'memory,nic-speed', destructive: false, memoryMiB: 8, nicMinMbps: 0 },
    );
    assert.equal(d.then, undefined, 'the next step comes with the test report');
    assert.equal(await state(d.hostId), 'discovering');
    const rep = await call('POST', 'node/self-tests', node(d.credential), {
      run: d.selfTests!.run,
      results: [
        { name: 'memory', status: 'pass', output: 'Stuck Address : ok\nmemtester exit 0', seconds: 1 },
        { name: 'nic-speed', status: 'skipped', output: 'the NIC reports no speed', seconds: 0 },
      ],
    });
    assert.deepEqual(rep.body, { outcome: 'pass', state: 'ready', then: 'poweroff' });
    assert.equal(await state(d.hostId), 'ready');
    const again = await call('POST', 'node/self-tests', node(d.credential), { run: d.selfTests!.run, results: [] });
    assert.equal(again.status, 409, 'a run is reported once');
    const runs = await call('GET', `hosts/${d.hostId}/self-tests`, c.bearer.viewer);
    assert.equal(runs.status, 200, JSON.stringify(runs.body));
    assert.equal(runs.body.items?.length, 1);
    assert.equal(runs.body.items![0]!['outcome'], 'pass');
    assert.equal(runs.body.items![0]!['requestedBy'], 'rule:tested');
    assert.match(JSON.stringify(runs.body.items![0]!['results']), /memtester exit 0/);
  });

  it('a failing test sends a host being discovered to failed at stage self-test, with an event', async () => {
    await call('PUT', 'rules/strict', c.bearer.admin, {
      priority: 1,
      match: { macPrefix: '52:54:00:5f' },
      assign: { selfTests: ['memory'] },
    });
    const d = await discover('52:54:00:5f:00:01');
    const rep = await call('POST', 'node/self-tests', node(d.credential), {
      run: d.selfTests!.run,
      results: [{ name: 'memory', status: 'fail', output: 'FAILURE: 0x0 != 0x1', seconds: 3 }],
    });
    assert.deepEqual(rep.body, { outcome: 'fail', state: 'failed', then: 'wait' });
    const h = await c.inventory.getHost(d.hostId);
    assert.equal(h.failedStage, 'self-test');
    const ev = await c.inventory.listEvents({ hostId: d.hostId, kind: 'host.self_test_failed' });
    assert.match(ev[0]!.message, /memory fail/);
  });

  it('a rebooted node reporting again mid-run gets the same run, not a second one', async () => {
    const d1 = await discover('52:54:00:5f:00:02');
    const res = await c.app.inject({
      method: 'POST',
      url: '/api/v1/node/discover',
      payload: { facts: facts('52:54:00:5f:00:02') },
      headers: { authorization: node(d1.credential) },
    });
    assert.equal(res.json().selfTests.run, d1.selfTests!.run);
  });

  it('on demand: read-only by default through GET next; destructive only in ready and with confirmation', async () => {
    const d = await discover('52:54:00:60:00:01');
    assert.equal(d.selfTests, undefined, 'no rule, no tests');
    assert.equal(d.then, 'wait');
    assert.equal(await state(d.hostId), 'ready');
    assert.deepEqual((await call('GET', 'node/next', node(d.credential))).body, { action: 'wait' });
    const viewer = await call('POST', `hosts/${d.hostId}/self-tests`, c.bearer.viewer, {});
    assert.equal(viewer.status, 403);
    const noConfirm = await call('POST', `hosts/${d.hostId}/self-tests`, c.bearer.operator, { destructive: true });
    assert.equal(noConfirm.status, 412);
    assert.match(String((noConfirm.body['error'] as { message: string }).message), /confirm with --yes/);
    const sneaky = await call('POST', `hosts/${d.hostId}/self-tests`, c.bearer.operator, { tests: ['disk-write'] });
    assert.equal(sneaky.status, 412);
    const req = await call('POST', `hosts/${d.hostId}/self-tests`, c.bearer.operator, {});
    assert.equal(req.status, 202);
    assert.deepEqual(req.body['tests'], ['memory', 'disk-smart', 'nic-speed']);
    const next = await call('GET', 'node/next', node(d.credential));
    assert.equal(next.body['action'], 'self-test');
    assert.equal((next.body['selfTests'] as { run: string }).run, req.body['id']);
    await call('POST', 'node/self-tests', node(d.credential), {
      run: req.body['id'],
      results: [
        { name: 'memory', status: 'pass', output: '', seconds: 1 },
        { name: 'disk-smart', status: 'skipped', output: 'vda: no SMART', seconds: 0 },
        { name: 'nic-speed', status: 'pass', output: '', seconds: 0 },
      ],
    });
    assert.deepEqual((await call('GET', 'node/next', node(d.credential))).body, { action: 'wait' });
    const destructive = await call('POST', `hosts/${d.hostId}/self-tests`, c.bearer.operator, {
      destructive: true,
      confirm: true,
    });
    assert.equal(destructive.status, 202);
    assert.deepEqual(destructive.body['tests'], ['memory', 'disk-smart', 'nic-speed', 'disk-write']);
    // A missing result is a failure: a ready host goes to failed, and then destructive runs are refused.
    await call('POST', 'node/self-tests', node(d.credential), {
      run: destructive.body['id'],
      results: [{ name: 'memory', status: 'pass', output: '', seconds: 1 }],
    });
    assert.equal(await state(d.hostId), 'failed');
    const notReady = await call('POST', `hosts/${d.hostId}/self-tests`, c.bearer.operator, {
      destructive: true,
      confirm: true,
    });
    assert.equal(notReady.status, 412);
    assert.match(String((notReady.body['error'] as { message: string }).message), /only on a host in ready/);
  });

  it('a rule may not ask for a destructive test', async () => {
    const bad = await call('PUT', 'rules/wipe', c.bearer.admin, { match: {}, assign: { selfTests: ['disk-write'] } });
    assert.equal(bad.status, 400);
  });
});

describe("a profile's discovery defaults, overridden by a rule's own settings", () => {
  let c: TestController;
  before(async () => {
    const dir = join(mkdtempSync(join(tmpdir(), 'kiln-profile-discovery-')), 'profiles');
    cpSync(repoProfilesDir, dir, { recursive: true });
    appendFileSync(
      join(dir, 'debian-12', 'profile.yaml'),
      'discovery:\n  selfTests: [memory]\n  selfTestOptions: { memoryMiB: 4 }\n  afterDiscovery: poweroff\n',
    );
    c = await createTestController({ profilesDir: dir });
  });
  after(async () => c.close());

  const inject = async (method: 'GET' | 'POST' | 'PUT', url: string, auth: string | null, payload?: object) => {
    const res = await c.app.inject({
      method,
      url: `/api/v1/${url}`,
      payload,
      headers: auth ? { authorization: auth } : {},
    });
    assert.ok(res.statusCode < 300, `${url}: ${res.statusCode} ${res.body}`);
    return res.json() as Record<string, unknown> & {
      selfTests?: { run: string; tests: string; memoryMiB: number };
      items?: Array<Record<string, unknown>>;
    };
  };
  /** Discovers a host, reports its tests passing; the plan, the next step and who asked for the run. */
  const discoverAndPass = async (mac: string) => {
    const d = await inject('POST', 'node/discover', null, { facts: facts(mac) });
    const plan = d.selfTests!;
    const rep = await inject('POST', 'node/self-tests', `Bearer ${String(d['credential'])}`, {
      run: plan.run,
      results: plan.tests.split(',').map((name) => ({ name, status: 'pass', output: 'ok', seconds: 0 })),
    });
    const runs = await inject('GET', `hosts/${String(d['hostId'])}/self-tests`, c.bearer.viewer);
    return { tests: plan.tests, memoryMiB: plan.memoryMiB, then: rep['then'], by: runs.items![0]!['requestedBy'] };
  };

  it("a rule that only assigns the profile gets the profile's tests, options and poweroff", async () => {
    await inject('PUT', 'rules/plain', c.bearer.admin, {
      match: { macPrefix: '52:54:00:6a' },
      assign: { profile: 'debian-12' },
    });
    assert.deepEqual(await discoverAndPass('52:54:00:6a:00:01'), {
      tests: 'memory',
      memoryMiB: 4,
      then: 'poweroff',
      by: 'profile:debian-12',
    });
  });

  it("a rule's own selfTests and afterDiscovery win over the profile's", async () => {
    await inject('PUT', 'rules/own', c.bearer.admin, {
      match: { macPrefix: '52:54:00:6b' },
      assign: { profile: 'debian-12', selfTests: ['nic-speed'], afterDiscovery: 'wait' },
    });
    assert.deepEqual(await discoverAndPass('52:54:00:6b:00:01'), {
      tests: 'nic-speed',
      memoryMiB: 16,
      then: 'wait',
      by: 'rule:own',
    });
  });
});
